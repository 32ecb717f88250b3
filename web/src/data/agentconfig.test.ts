import { describe, expect, it } from 'vitest';
import type { AgentConfigBody } from '../api/types';
import { configToForm, formChanged, formToBody, isValidRedirectUrl } from './agentconfig';
import type { ConfigForm } from './agentconfig';

const cfg: AgentConfigBody = {
  bands_ms: [3000, 8000],
  active_stack: { threshold_ms: 2000, interval_ms: 1000 },
  throttle: { enabled: true, max_active: 50, action: 'reject', redirect_url: '/busy.html', endpoints: { 'POST /checkout': 10, 'GET /a': 3 } },
  profiling: { methods: ['orders::*', 'payment::Charge'] },
};

function form(patch: Partial<ConfigForm> = {}): ConfigForm {
  return { ...configToForm(cfg), ...patch };
}
function fields(f: ConfigForm): string[] {
  return formToBody(f).errors.map((e) => e.field);
}

describe('agent config form', () => {
  it('round-trips a configuration (endpoint rows sorted by name)', () => {
    const f = configToForm(cfg);
    expect(f.endpoints).toEqual([{ endpoint: 'GET /a', limit: '3' }, { endpoint: 'POST /checkout', limit: '10' }]);
    expect(f.bands).toEqual(['3000', '8000']);
    const { body, errors } = formToBody(f);
    expect(errors).toEqual([]);
    expect(body).toEqual(cfg);
    expect(formChanged(f, cfg)).toBe(false);
    expect(formChanged({ ...f, maxActive: '51' }, cfg)).toBe(true);
  });

  it('ignores versions and unknown fields of the server answer', () => {
    const body = formToBody(configToForm({ ...cfg, version: 7, overridden: true } as AgentConfigBody)).body!;
    expect(Object.keys(body).sort()).toEqual(['active_stack', 'bands_ms', 'profiling', 'throttle']);
  });

  it('fills a sparse answer with defaults the user must complete', () => {
    const f = configToForm({} as AgentConfigBody);
    expect(f.action).toBe('reject');
    expect(f.endpoints).toEqual([]);
    expect(fields(f)).toEqual(['bands', 'threshold_ms', 'interval_ms', 'max_active']);
  });

  it('requires increasing positive bands', () => {
    expect(fields(form({ bands: ['8000', '3000'] }))).toEqual(['bands']);
    expect(fields(form({ bands: ['3000', '3000'] }))).toEqual(['bands']);
    expect(fields(form({ bands: ['0', '3000'] }))).toEqual(['bands']);
    expect(fields(form({ bands: ['', '3000'] }))).toEqual(['bands']);
    expect(fields(form({ bands: ['x', '3000'] }))).toEqual(['bands']);
    expect(fields(form({ bands: ['2500.5', '3000'] }))).toEqual([]);
  });

  it('checks the active-stack threshold and interval', () => {
    expect(fields(form({ thresholdMs: '0' }))).toEqual([]);
    expect(fields(form({ thresholdMs: '-1', intervalMs: '0' }))).toEqual(['threshold_ms', 'interval_ms']);
  });

  it('bounds max active to 1…1,000,000 whole numbers', () => {
    expect(fields(form({ maxActive: '1' }))).toEqual([]);
    expect(fields(form({ maxActive: '1000000' }))).toEqual([]);
    for (const v of ['0', '1000001', '1.5', '', 'ten', '-3']) expect(fields(form({ maxActive: v }))).toEqual(['max_active']);
  });

  it('accepts reject or redirect only, and redirect needs a URL', () => {
    expect(fields(form({ action: 'drop' }))).toEqual(['action']);
    expect(fields(form({ action: 'redirect', redirectUrl: '' }))).toEqual(['redirect_url']);
    expect(fields(form({ action: 'redirect', redirectUrl: 'https://status.example.com/busy' }))).toEqual([]);
    expect(fields(form({ action: 'reject', redirectUrl: '' }))).toEqual([]);
    expect(fields(form({ redirectUrl: 'javascript:alert(1)' }))).toEqual(['redirect_url']);
    expect(fields(form({ redirectUrl: '/' + 'a'.repeat(1024) }))).toEqual(['redirect_url']);
  });

  it('tells relative paths and http(s) URLs from the rest', () => {
    for (const ok of ['/busy.html', '/a/b?c=d', 'http://x', 'https://status.example.com:8443/p']) expect(isValidRedirectUrl(ok), ok).toBe(true);
    for (const bad of ['', 'busy.html', '//evil.example', '/\\evil', 'ftp://x/y', 'https://', '/a b', 'data:text/html,x', 'javascript:x', '/a\n']) expect(isValidRedirectUrl(bad), bad).toBe(false);
  });

  it('validates per-endpoint limits: endpoint, whole limit, no duplicates, at most 100', () => {
    expect(fields(form({ endpoints: [{ endpoint: '', limit: '' }] }))).toEqual([]);
    expect(formToBody(form({ endpoints: [{ endpoint: '  GET /x ', limit: ' 5 ' }] })).body!.throttle.endpoints).toEqual({ 'GET /x': 5 });
    expect(fields(form({ endpoints: [{ endpoint: '', limit: '5' }] }))).toEqual(['endpoints.0']);
    expect(fields(form({ endpoints: [{ endpoint: 'GET /x', limit: '0' }, { endpoint: 'GET /y', limit: '' }] }))).toEqual(['endpoints.0', 'endpoints.1']);
    expect(fields(form({ endpoints: [{ endpoint: 'GET /x', limit: '1' }, { endpoint: 'GET /x', limit: '2' }] }))).toEqual(['endpoints.1']);
    const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ endpoint: 'GET /e' + i, limit: '1' }));
    expect(fields(form({ endpoints: rows(100) }))).toEqual([]);
    expect(fields(form({ endpoints: rows(101) }))).toEqual(['endpoints']);
  });

  it('validates method patterns: at most 100 of at most 256 bytes; blanks and repeats dropped', () => {
    expect(formToBody(form({ methods: ['a::*', '', ' a::* ', 'b?'] })).body!.profiling.methods).toEqual(['a::*', 'b?']);
    expect(fields(form({ methods: ['x'.repeat(256)] }))).toEqual([]);
    expect(fields(form({ methods: ['ok', 'x'.repeat(257)] }))).toEqual(['methods.1']);
    expect(fields(form({ methods: ['é'.repeat(129)] }))).toEqual(['methods.0']);
    expect(fields(form({ methods: Array.from({ length: 100 }, (_, i) => 'm' + i) }))).toEqual([]);
    expect(fields(form({ methods: Array.from({ length: 101 }, (_, i) => 'm' + i) }))).toEqual(['methods']);
  });
});
