import { afterEach, describe, expect, it, vi } from 'vitest';
import { Api, ApiError, isUnsupported, queryString } from './client';

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

  it('repeats a parameter given as an array', () => {
    expect(queryString({ name: 'x', 'match[]': ['a=1', 'b!=2'] })).toBe('?name=x&match%5B%5D=a%3D1&match%5B%5D=b%21%3D2');
  });

  it('PUTs the agent configuration as JSON and DELETEs an override', async () => {
    const fn = stubFetch(200, { version: 8, overridden: true });
    const api = new Api('tok', 'default');
    const body = { bands_ms: [1, 2], active_stack: { threshold_ms: 0, interval_ms: 1 }, throttle: { enabled: false, max_active: 1, action: 'reject', redirect_url: '', endpoints: {} }, profiling: { methods: [] } };
    const res = await api.putAgentConfig('orders', body);
    expect(res.version).toBe(8);
    const [url, init] = fn.mock.calls[0]!;
    expect(url).toBe('/api/v1/agent-config?project=default&service=orders');
    expect(init!.method).toBe('PUT');
    expect(JSON.parse(String(init!.body))).toEqual(body);
    expect((init!.headers as Record<string, string>)['Content-Type']).toBe('application/json');
    await api.agentConfig('');
    expect(fn.mock.calls[1]![0]).toBe('/api/v1/agent-config?project=default');
    expect(fn.mock.calls[1]![1]!.method).toBe('GET');
    fn.mockImplementationOnce(async () => new Response(null, { status: 204 }));
    await expect(api.deleteAgentConfig('orders')).resolves.toEqual({});
    expect(fn.mock.calls[2]![1]!.method).toBe('DELETE');
  });

  it('reports validation errors of a PUT and recognises older servers', async () => {
    stubFetch(400, { error: { code: 'invalid_argument', message: 'throttle.max_active must be 1..1000000' } });
    const err = (await new Api('t', 'p').putAgentConfig('', {} as never).catch((e: unknown) => e)) as ApiError;
    expect(err.message).toBe('throttle.max_active must be 1..1000000');
    expect(isUnsupported(err)).toBe(false);
    expect(isUnsupported(new ApiError(404, 'not_found', 'no route'))).toBe(true);
    expect(isUnsupported(new ApiError(501, 'http_501', ''))).toBe(true);
    expect(isUnsupported(new Error('x'))).toBe(false);
  });
});
