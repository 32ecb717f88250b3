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
    expect(f.bands).toEqual(['3000', '8000', '']);
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

  it('loads the server default (throttling off, no instance limit) and saves it unchanged', () => {
    const def: AgentConfigBody = { bands_ms: [3000, 8000], active_stack: { threshold_ms: 2000, interval_ms: 1000 }, throttle: { enabled: false, max_active: 0, action: 'reject', redirect_url: '', endpoints: {} }, profiling: { methods: [] } };
    expect(formToBody(configToForm(def))).toEqual({ body: def, errors: [] });
  });

  it('fills a sparse answer with blanks the user must complete', () => {
    const f = configToForm({} as AgentConfigBody);
    expect(f.action).toBe('reject');
    expect(f.endpoints).toEqual([]);
    expect(fields(f)).toEqual(['bands', 'threshold_ms', 'interval_ms']);
  });

  it('takes 1 to 3 increasing whole-ms band thresholds up to a day', () => {
    expect(formToBody(form({ bands: ['1000', '3000', '8000'] })).body!.bands_ms).toEqual([1000, 3000, 8000]);
    expect(formToBody(form({ bands: ['5000', '', ''] })).body!.bands_ms).toEqual([5000]);
    expect(fields(form({ bands: ['', '', ''] }))).toEqual(['bands']);
    expect(fields(form({ bands: ['8000', '3000', ''] }))).toEqual(['bands']);
    expect(fields(form({ bands: ['3000', '3000', ''] }))).toEqual(['bands']);
    expect(fields(form({ bands: ['1000', '3000', '2000'] }))).toEqual(['bands']);
    expect(fields(form({ bands: ['0', '3000', ''] }))).toEqual(['bands']);
    expect(fields(form({ bands: ['', '3000', ''] }))).toEqual(['bands']);
    expect(fields(form({ bands: ['x', '3000', ''] }))).toEqual(['bands']);
    expect(fields(form({ bands: ['2500.5', '3000', ''] }))).toEqual(['bands']);
    expect(fields(form({ bands: ['3000', '86400000', ''] }))).toEqual([]);
    expect(fields(form({ bands: ['3000', '86400001', ''] }))).toEqual(['bands']);
  });

  it('checks the active-stack threshold (0…a day) and interval (100…60,000 ms)', () => {
    expect(fields(form({ thresholdMs: '0', intervalMs: '100' }))).toEqual([]);
    expect(fields(form({ thresholdMs: '86400000', intervalMs: '60000' }))).toEqual([]);
    expect(fields(form({ thresholdMs: '-1', intervalMs: '99' }))).toEqual(['threshold_ms', 'interval_ms']);
    expect(fields(form({ thresholdMs: '1.5', intervalMs: '60001' }))).toEqual(['threshold_ms', 'interval_ms']);
  });

  it('bounds max active to 0…1,000,000 whole numbers, 0 meaning no per-instance limit', () => {
    expect(fields(form({ maxActive: '1' }))).toEqual([]);
    expect(fields(form({ maxActive: '1000000' }))).toEqual([]);
    expect(fields(form({ maxActive: '0' }))).toEqual([]); // enabled, but endpoint limits exist
    expect(formToBody(form({ maxActive: '' })).body!.throttle.max_active).toBe(0);
    for (const v of ['1000001', '1.5', 'ten', '-3']) expect(fields(form({ maxActive: v }))).toEqual(['max_active']);
  });

  it('needs a limit of some kind when throttling is enabled', () => {
    expect(fields(form({ maxActive: '0', endpoints: [] }))).toEqual(['max_active']);
    expect(fields(form({ maxActive: '0', endpoints: [], throttleEnabled: false }))).toEqual([]);
    expect(fields(form({ maxActive: '0', endpoints: [{ endpoint: 'GET /x', limit: '2' }] }))).toEqual([]);
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
    for (const bad of ['', 'busy.html', '//evil.example', '/\\evil', '/a\\b', 'ftp://x/y', 'https://', 'http:///x', '/a b', 'data:text/html,x', 'javascript:x', '/a\n']) expect(isValidRedirectUrl(bad), bad).toBe(false);
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
