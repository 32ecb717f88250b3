import { afterEach, describe, expect, it, vi } from 'vitest';
import { Api, ApiError, queryString } from './client';

afterEach(() => vi.unstubAllGlobals());

function stubFetch(status: number, body: unknown) {
  const fn = vi.fn(async (_url: string, _init?: RequestInit) => new Response(typeof body === 'string' ? body : JSON.stringify(body), { status }));
  vi.stubGlobal('fetch', fn);
  return fn;
}

describe('api client', () => {
  it('sends the bearer token and the project, leaving out empty parameters', async () => {
    const fn = stubFetch(200, { transactions: [], truncated: false });
    const api = new Api('tok', 'shop & co');
    await api.transactions({ endpoint: 'GET /a?b', min_ms: undefined, error: true, limit: 5, service: '' });
    const [url, init] = fn.mock.calls[0]!;
    expect(url).toBe('/api/v1/transactions?project=shop+%26+co&endpoint=GET+%2Fa%3Fb&error=1&limit=5');
    expect((init!.headers as Record<string, string>).Authorization).toBe('Bearer tok');
  });

  it('turns error bodies into ApiError with the server code and message', async () => {
    stubFetch(400, { error: { code: 'invalid_argument', message: 'from must be < to' } });
    const err = await new Api('t', 'p').xview({ from: 2, to: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(400);
    expect((err as ApiError).code).toBe('invalid_argument');
    expect((err as ApiError).message).toBe('from must be < to');
  });

  it('reports 401 to the app and survives non-JSON error bodies', async () => {
    stubFetch(401, 'nope');
    const api = new Api('t', 'p');
    let told = 0;
    api.onUnauthorized = () => told++;
    const err = (await api.summary().catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(401);
    expect(err.code).toBe('http_401');
    expect(told).toBe(1);
  });

  it('maps network failures to a readable error', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => {
      throw new TypeError('fetch failed');
    }));
    const err = (await new Api('t', 'p').projects().catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe('network');
    expect(err.status).toBe(0);
  });

  it('encodes query strings', () => {
    expect(queryString({})).toBe('');
    expect(queryString({ a: 0, b: false, c: NaN, d: null })).toBe('?a=0');
  });
});
