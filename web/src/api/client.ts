// Typed client for the Loupe HTTP API (docs/api.md). One instance per signed-in session.

import type {
  ActiveResponse, ActiveStackResponse, AgentConfig, AgentConfigBody, EndpointStats, EventsResponse,
  InstancesResponse, Metric, Project, SeriesResponse, Summary, Trace, TxDetail, TxSummary, XViewResponse,
  ApiErrorBody, AlertRule, AlertRuleBody, RuleTestResponse, AlertsResponse, AlertChannel, AlertChannelBody,
  ChannelTestResult, Delivery, Silence, SilenceBody, EventGroupsResponse,
} from './types';

/** True when the server has no such route: an older server than this dashboard (404 without a
 *  project-level meaning, 405 or 501). */
export function isUnsupported(e: unknown): boolean {
  return e instanceof ApiError && (e.status === 404 || e.status === 405 || e.status === 501);
}

/** An API failure with the HTTP status and the server's error code (or `network`). */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** A string array repeats the parameter (`match[]`). */
export type Params = Record<string, string | number | boolean | null | undefined | readonly string[]>;

/** Builds a query string, leaving out empty values; `true` becomes 1 (as in `error=1`). */
export function queryString(params: Params): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    if (Array.isArray(v)) {
      for (const x of v as readonly string[]) q.append(k, x);
      continue;
    }
    if (typeof v === 'number' && !Number.isFinite(v)) continue;
    q.set(k, v === true ? '1' : String(v));
  }
  const s = q.toString();
  return s ? '?' + s : '';
}

export class Api {
  /** Called on every 401 so the app can send the user back to the sign-in page. */
  onUnauthorized: (() => void) | null = null;

  constructor(
    readonly token: string,
    public project: string,
    private readonly base = '',
  ) {}

  get<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, params, undefined, signal);
  }

  /** One API call; `body` (PUT/POST) is sent as JSON. Non-2xx answers become `ApiError`. */
  async request<T>(method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, params: Params = {}, body?: unknown, signal?: AbortSignal): Promise<T> {
    const url = this.base + '/api/v1' + path + queryString({ project: this.project, ...params });
    const headers: Record<string, string> = { Authorization: 'Bearer ' + this.token, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        cache: 'no-store',
        signal: signal ?? null,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', 'Cannot reach the Loupe server');
    }
    if (!res.ok) {
      let code = 'http_' + res.status;
      let message = res.statusText || 'HTTP ' + res.status;
      try {
        const b = (await res.json()) as ApiErrorBody;
        if (b.error?.code) code = b.error.code;
        if (b.error?.message) message = b.error.message;
      } catch {
        /* not JSON: keep the status text */
      }
      if (res.status === 401) this.onUnauthorized?.();
      throw new ApiError(res.status, code, message);
    }
    if (res.status === 204) return {} as T;
    const text = await res.text();
    return (text ? JSON.parse(text) : {}) as T;
  }

  projects(): Promise<{ projects: Project[] }> {
    return this.get('/projects', { project: undefined });
  }
  instances(signal?: AbortSignal): Promise<InstancesResponse> {
    return this.get('/instances', {}, signal);
  }
  transactions(params: Params, signal?: AbortSignal): Promise<{ transactions: TxSummary[]; truncated: boolean }> {
    return this.get('/transactions', params, signal);
  }
  transaction(id: string, signal?: AbortSignal): Promise<TxDetail> {
    return this.get('/transactions/' + encodeURIComponent(id), {}, signal);
  }
  trace(traceId: string, signal?: AbortSignal): Promise<Trace> {
    return this.get('/traces/' + encodeURIComponent(traceId), {}, signal);
  }
  xview(params: Params, signal?: AbortSignal): Promise<XViewResponse> {
    return this.get('/xview', params, signal);
  }
  series(metric: Metric, params: Params, signal?: AbortSignal): Promise<SeriesResponse> {
    return this.get('/series', { metric, ...params }, signal);
  }
  endpoints(params: Params, signal?: AbortSignal): Promise<{ endpoints: EndpointStats[] }> {
    return this.get('/endpoints', params, signal);
  }
  summary(signal?: AbortSignal): Promise<Summary> {
    return this.get('/summary', {}, signal);
  }
  active(params: Params = {}, signal?: AbortSignal): Promise<ActiveResponse> {
    return this.get('/active', params, signal);
  }
  activeStack(params: Params, signal?: AbortSignal): Promise<ActiveStackResponse> {
    return this.get('/active-stack', params, signal);
  }
  events(params: Params, signal?: AbortSignal): Promise<EventsResponse> {
    return this.get('/events', params, signal);
  }
  /** The effective agent configuration of the project (`service` empty) or of one service. */
  agentConfig(service: string, signal?: AbortSignal): Promise<AgentConfig> {
    return this.get('/agent-config', { service }, signal);
  }
  /** Saves the project default (`service` empty) or a service override; answers the new
   *  effective configuration. */
  putAgentConfig(service: string, body: AgentConfigBody, signal?: AbortSignal): Promise<AgentConfig> {
    return this.request('PUT', '/agent-config', { service }, body, signal);
  }
  /** Removes a service's override (the service then follows the project default). */
  deleteAgentConfig(service: string, signal?: AbortSignal): Promise<unknown> {
    return this.request('DELETE', '/agent-config', { service }, undefined, signal);
  }

  /** Events grouped by `by` (type, service, endpoint or message) with counts. */
  eventGroups(by: string, params: Params, signal?: AbortSignal): Promise<EventGroupsResponse> {
    return this.get('/events', { ...params, group_by: by }, signal);
  }

  // ---- Alerts (docs/api.md "Alerts")
  alertRules(signal?: AbortSignal): Promise<{ rules: AlertRule[] }> {
    return this.get('/alert-rules', {}, signal);
  }
  alertRule(id: number, signal?: AbortSignal): Promise<AlertRule> {
    return this.get('/alert-rules/' + id, {}, signal);
  }
  createAlertRule(body: AlertRuleBody, signal?: AbortSignal): Promise<AlertRule> {
    return this.request('POST', '/alert-rules', {}, body, signal);
  }
  /** Replaces the whole rule. */
  updateAlertRule(id: number, body: AlertRuleBody, signal?: AbortSignal): Promise<AlertRule> {
    return this.request('PUT', '/alert-rules/' + id, {}, body, signal);
  }
  deleteAlertRule(id: number, signal?: AbortSignal): Promise<unknown> {
    return this.request('DELETE', '/alert-rules/' + id, {}, undefined, signal);
  }
  /** Replays a stored rule (`id`) or an unsaved one (`body`) over `from` … `to` (default the
   *  last hour) every `step_s`. */
  testAlertRule(target: { id: number } | { body: AlertRuleBody }, range: { from?: number; to?: number; step_s?: number } = {}, signal?: AbortSignal): Promise<RuleTestResponse> {
    if ('id' in target) return this.request('POST', '/alert-rules/' + target.id + '/test', range, undefined, signal);
    return this.request('POST', '/alert-rules/test', range, target.body, signal);
  }
  /** Alerts pending or firing now and the state changes of `from` … `to` (default 24 h). */
  alerts(params: Params = {}, signal?: AbortSignal): Promise<AlertsResponse> {
    return this.get('/alerts', params, signal);
  }
  alertChannels(signal?: AbortSignal): Promise<{ channels: AlertChannel[] }> {
    return this.get('/alert-channels', {}, signal);
  }
  createAlertChannel(body: AlertChannelBody, signal?: AbortSignal): Promise<AlertChannel> {
    return this.request('POST', '/alert-channels', {}, body, signal);
  }
  /** Without `url` the stored URL is kept. */
  updateAlertChannel(id: number, body: AlertChannelBody, signal?: AbortSignal): Promise<AlertChannel> {
    return this.request('PUT', '/alert-channels/' + id, {}, body, signal);
  }
  deleteAlertChannel(id: number, signal?: AbortSignal): Promise<unknown> {
    return this.request('DELETE', '/alert-channels/' + id, {}, undefined, signal);
  }
  /** Sends a test message now and answers the attempt. */
  testAlertChannel(id: number, signal?: AbortSignal): Promise<ChannelTestResult> {
    return this.request('POST', '/alert-channels/' + id + '/test', {}, undefined, signal);
  }
  channelDeliveries(id: number, signal?: AbortSignal): Promise<{ deliveries: Delivery[] }> {
    return this.get('/alert-channels/' + id + '/deliveries', {}, signal);
  }
  silences(signal?: AbortSignal): Promise<{ silences: Silence[] }> {
    return this.get('/silences', {}, signal);
  }
  createSilence(body: SilenceBody, signal?: AbortSignal): Promise<Silence> {
    return this.request('POST', '/silences', {}, body, signal);
  }
  deleteSilence(id: number, signal?: AbortSignal): Promise<unknown> {
    return this.request('DELETE', '/silences/' + id, {}, undefined, signal);
  }

  /** WebSocket URL of the live stream (the token goes in the query: browsers cannot set
   *  headers on WebSockets). */
  liveUrl(): string {
    const loc = window.location;
    const proto = loc.protocol === 'https:' ? 'wss:' : 'ws:';
    const host = this.base ? new URL(this.base).host : loc.host;
    return proto + '//' + host + '/api/v1/live' + queryString({ token: this.token, project: this.project });
  }
}
