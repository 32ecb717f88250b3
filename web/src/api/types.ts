// Types of the Loupe HTTP API v1 (docs/api.md is the contract).

export interface Project {
  name: string;
}

export interface Instance {
  service: string;
  instance: string;
  host: string;
  kind: string;
  sdk: string;
  first_seen_ms: number;
  last_seen_ms: number;
  up: boolean;
}

/** The project's instance cap as ingest applies it (GET /api/v1/instances `cap`). */
export interface InstanceCap {
  max_instances: number;
  /** Real instances counted against the cap now. */
  instances: number;
  /** Instance ids seen recently whose transactions are filed under `(overflow)`. */
  overflowed: number;
}

export interface InstancesResponse {
  instances: Instance[];
  cap?: InstanceCap;
}

export interface TxSummary {
  id: string;
  trace_id: string;
  service: string;
  instance: string;
  endpoint: string;
  method: string;
  start_ms: number;
  end_ms: number;
  elapsed_ms: number;
  error: boolean;
  error_type: string;
  status: number;
  client_ip: string;
  user: string;
  sql_count: number;
  sql_ms: number;
  external_count: number;
  external_ms: number;
  cpu_ms: number | null;
}

export type StepKind = 'method' | 'sql' | 'external' | 'message' | 'error';

export interface Step {
  span_id: string;
  parent_span_id: string;
  depth: number;
  kind: StepKind | string;
  name: string;
  start_ms: number;
  offset_ms: number;
  elapsed_ms: number;
  error: boolean;
  sql: string;
  db_system: string;
  binds: string[];
  rows: number;
  url: string;
  host: string;
  http_status: number;
  message: string;
  stack: string;
  attributes: Record<string, string>;
}

export interface TxDetail extends TxSummary {
  url: string;
  host: string;
  span_id: string;
  parent_span_id: string;
  dropped_steps: number;
  steps: Step[];
}

export interface TraceTx extends TxSummary {
  parent_id: string | null;
}

export interface Trace {
  trace_id: string;
  transactions: TraceTx[];
}

export interface PointColumns {
  id: string[];
  end_ms: number[];
  elapsed_ms: number[];
  error: (number | boolean)[];
}

export interface XViewBins {
  from_ms: number;
  to_ms: number;
  x_bins: number;
  y_bins: number;
  y_min_ms: number;
  y_max_ms: number;
  count: number[];
  errors: number[];
}

export interface XViewResponse {
  total: number;
  binned: boolean;
  points?: PointColumns;
  bins?: XViewBins;
}

export type Metric = 'tps' | 'response_time' | 'error_rate' | 'count' | 'errors';

export interface SeriesResponse {
  metric: string;
  from_ms: number;
  step_ms: number;
  series: { key: string; values: (number | null)[] }[];
}

export interface EndpointStats {
  service: string;
  endpoint: string;
  count: number;
  errors: number;
  error_rate: number;
  avg_ms: number;
  max_ms: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
  avg_sql_count: number;
  avg_sql_ms: number;
  avg_external_ms: number;
}

export interface Summary {
  today_calls: number;
  tps: number;
  avg_ms: number;
  error_rate: number | null;
  concurrent_users: number;
}

export interface LiveEvent {
  time_ms: number;
  level: string;
  type: string;
  message: string;
  tx_id: string;
  service: string;
  endpoint: string;
}

/** A 'tick' (once a second) carries the figures of the last whole second plus new points;
 *  a 'points' frame (between ticks) carries only new X-View points. */
export interface LiveFrame {
  type: 'tick' | 'points' | string;
  t_ms: number;
  tps: number;
  avg_ms: number | null;
  errors: number;
  today_calls: number;
  concurrent_users: number;
  points?: PointColumns;
  points_dropped?: number;
  events?: LiveEvent[];
}

export type ActiveStepKind = 'method' | 'sql' | 'external' | 'message';

/** One active (unfinished) transaction, as an agent's snapshot reported it
 *  (docs/format/agent-protocol.md). Older servers sent fewer fields: all but elapsed_ms are
 *  optional and read leniently. */
export interface ActiveTx {
  /** The agent's id for the transaction (its root span id). */
  id?: string;
  /** The stored transaction's id, when the server sends it (else derived via the trace). */
  tx_id?: string;
  trace_id?: string;
  endpoint?: string;
  start_ms?: number;
  elapsed_ms: number;
  /** The innermost open step ("SQL SELECT …"). */
  step?: string;
  step_kind?: ActiveStepKind | string;
  /** Name used by pre-release servers for `step`. */
  current_step?: string;
  thread?: string;
  user?: string;
  client_ip?: string;
}

export interface ActiveInstance {
  service: string;
  instance: string;
  host?: string;
  /** False for an instance that sends transactions but no active snapshots (its active count
   *  is unknown, not 0); absent from servers that list reporting instances only. */
  reported?: boolean;
  /** Time of the instance's last snapshot. */
  time_ms?: number;
  /** True when the instance's last snapshot is too old to trust (agent gone or stuck). */
  stale?: boolean;
  /** Thresholds the server split this instance's bands with (its service's configuration). */
  bands_ms?: number[];
  /** Per-band counts (bands_ms.length + 1 of them), split by the server; all zero when stale. */
  bands?: number[];
  /** Active transactions of the instance (the `active` list may be cut by `limit`). */
  active_total?: number;
  /** Requests throttled by the agent since it started. */
  throttled_total?: number;
  active?: ActiveTx[];
  transactions?: ActiveTx[];
}

export interface ActiveResponse {
  /** Band thresholds of the project's default agent configuration, ascending. */
  bands_ms?: number[];
  instances: ActiveInstance[];
}

/** One frame of the aggregated active stack. `share`/`self_share` are percentages (0…100) of
 *  all samples in the range (inclusive: samples with the frame anywhere on the stack; self:
 *  samples where it is the innermost frame). */
export interface StackFrame {
  frame: string;
  samples: number;
  share: number;
  self_samples: number;
  self_share: number;
}

export interface ActiveStackResponse {
  samples: number;
  frames: StackFrame[];
  endpoints: { endpoint: string; samples: number }[];
}

export type EventLevel = 'NORMAL' | 'WARNING' | 'FATAL';

export interface ApiEvent {
  time_ms: number;
  level: EventLevel | string;
  type: string;
  message: string;
  service: string;
  instance?: string;
  endpoint: string;
  tx_id: string;
}

export interface EventsResponse {
  events: ApiEvent[];
  truncated: boolean;
}

export type ThrottleAction = 'reject' | 'redirect';

/** The agent configuration without its version: the body of `PUT /api/v1/agent-config`. */
export interface AgentConfigBody {
  bands_ms: number[];
  active_stack: { threshold_ms: number; interval_ms: number };
  throttle: {
    enabled: boolean;
    max_active: number;
    action: ThrottleAction | string;
    redirect_url: string;
    endpoints: Record<string, number>;
  };
  profiling: { methods: string[] };
}

/** `GET /api/v1/agent-config`: the effective configuration of the project or of one service. */
export interface AgentConfig extends AgentConfigBody {
  version: number;
  /** True when the service has its own override (false for the project default). */
  overridden: boolean;
}

export interface ApiErrorBody {
  error?: { code?: string; message?: string };
}

// ---- Alerts (docs/api.md "Alerts: alert-rules, alerts, alert-channels, silences")

export type AlertSignal =
  | 'tps' | 'calls' | 'response_time' | 'p95' | 'p99' | 'error_rate' | 'error_count'
  | 'active' | 'throttled' | 'instance_down' | 'event';

export interface QuietHours {
  /** sun … sat: the day a quiet period starts. */
  days: string[];
  /** HH:MM; `to` < `from` runs past midnight. */
  from: string;
  to: string;
  /** `UTC` or `UTC±HH:MM`. */
  tz: string;
}

/** A rule as sent (POST/PUT, the preview's body) and answered (with `id`). */
export interface AlertRuleBody {
  name: string;
  enabled: boolean;
  service: string;
  instance: string;
  endpoint: string;
  signal: AlertSignal | string;
  /** Only with signal `event`. */
  event_type?: string;
  /** Only with signal `active`: −1 all bands, 0 … 3 one band. */
  band?: number;
  window_s: number;
  for_s: number;
  comparison: 'above' | 'below' | string;
  warning: number | null;
  critical: number | null;
  baseline: 'none' | 'yesterday' | 'last_week' | string;
  min_volume: number;
  no_data: 'keep' | 'ok' | 'alerting' | string;
  channels: number[];
  repeat_minutes: number;
  send_resolved: boolean;
  quiet_hours: QuietHours | null;
}

export interface AlertRule extends AlertRuleBody {
  id: number;
}

export interface AlertScope {
  service: string;
  instance: string;
  endpoint: string;
}

export interface RuleTestChange {
  kind: 'firing' | 'level' | 'resolved' | string;
  level: string;
  at_ms: number;
  value: number | null;
  threshold: number | null;
  scope: AlertScope;
}

export interface RuleTestResponse {
  changes: RuleTestChange[];
  series: { scope: AlertScope; points: [number, number | null][] }[];
}

export interface Alert {
  id: number;
  rule_id: number;
  rule_name: string;
  state: 'pending' | 'firing' | string;
  level: 'warning' | 'critical' | string;
  value: number | null;
  threshold: number | null;
  since_ms: number;
  scope: AlertScope;
  muted: boolean;
  link?: string;
}

export interface AlertChange {
  id: number;
  rule_id: number;
  rule_name: string;
  kind: 'firing' | 'level' | 'resolved' | string;
  level: string;
  value: number | null;
  threshold: number | null;
  at_ms: number;
  since_ms: number;
  scope: AlertScope;
  notified: boolean;
}

export interface AlertsResponse {
  alerts: Alert[];
  history?: AlertChange[];
}

export type ChannelType = 'email' | 'slack' | 'webhook';

/** A channel as sent: `url` only when (re)typed (write-only secret). */
export interface AlertChannelBody {
  name: string;
  type: ChannelType | string;
  addresses?: string[];
  url?: string;
}

/** A channel as answered: `url` reduced to scheme and host. */
export interface AlertChannel {
  id: number;
  name: string;
  type: ChannelType | string;
  addresses?: string[];
  url?: string;
  has_url?: boolean;
}

export interface ChannelTestResult {
  ok: boolean;
  status?: number;
  latency_ms?: number;
  error?: string;
}

export interface Delivery {
  at_ms: number;
  alert_id: number;
  kind: string;
  ok: boolean;
  status: number;
  latency_ms: number;
  error: string;
  attempt: number;
}

export interface Silence {
  id: number;
  rule_id?: number;
  service?: string;
  instance?: string;
  endpoint?: string;
  start_ms: number;
  end_ms: number;
  comment?: string;
}

export interface SilenceBody {
  rule_id?: number;
  service?: string;
  instance?: string;
  endpoint?: string;
  start_ms?: number;
  end_ms?: number;
  duration_s?: number;
  comment?: string;
}

/** `GET /api/v1/events?group_by=…`: one row per group. */
export interface EventGroup {
  key: string;
  count: number;
  first_ms: number;
  last_ms: number;
  example_tx_id: string;
  level: string;
  type: string;
  service: string;
  endpoint: string;
  message: string;
}

export interface EventGroupsResponse {
  groups: EventGroup[];
  truncated?: boolean;
}
