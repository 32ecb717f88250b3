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

/** One active (unfinished) transaction. The active API is not in docs/api.md yet; these are the
 *  field names ARCHITECTURE.md §1/§5 promise (elapsed, endpoint, current step), read leniently. */
export interface ActiveTx {
  id?: string;
  endpoint?: string;
  elapsed_ms: number;
  step?: string;
  current_step?: string;
  start_ms?: number;
  user?: string;
  client_ip?: string;
}

export interface ActiveInstance {
  service: string;
  instance: string;
  /** Per-band counts when the server sends them already split. */
  bands?: number[];
  active?: ActiveTx[];
  transactions?: ActiveTx[];
}

export interface ActiveResponse {
  instances: ActiveInstance[];
}

export interface ApiErrorBody {
  error?: { code?: string; message?: string };
}
