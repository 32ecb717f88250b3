// Active-service bands for the equalizer: normal < t1, slow t1…t2, very slow ≥ t2
// (defaults 3 s and 8 s, ARCHITECTURE.md §1).

import type { ActiveInstance, ActiveTx } from '../api/types';

export const DEFAULT_THRESHOLDS: readonly [number, number] = [3000, 8000];

export function bandOf(elapsedMs: number, t: readonly [number, number]): 0 | 1 | 2 {
  return elapsedMs < t[0] ? 0 : elapsedMs < t[1] ? 1 : 2;
}

/** The active transactions an instance entry carries (the field name is not fixed yet). */
export function activeList(i: ActiveInstance): ActiveTx[] {
  return i.active ?? i.transactions ?? [];
}

/** Band counts for an instance. With `serverFirst` (the user has not set thresholds of their
 *  own) the server's split is used: it is exact even when the list is cut by `limit`, and it
 *  follows the service's own thresholds. Otherwise, and for stale instances (whose server
 *  bands are zero), the listed transactions are counted with `t`. */
export function bandCounts(i: ActiveInstance, t: readonly [number, number], serverFirst = false): [number, number, number] {
  const list = activeList(i);
  const b = i.bands;
  if (b && b.length > 0 && ((serverFirst && !i.stale) || list.length === 0)) {
    // A 4-band (JENNIFER-style) answer folds its last two bands into "very slow".
    return [b[0] ?? 0, b[1] ?? 0, (b[2] ?? 0) + (b[3] ?? 0)];
  }
  const c: [number, number, number] = [0, 0, 0];
  for (const a of list) c[bandOf(a.elapsed_ms, t)]++;
  return c;
}

/** Parses "3,8" or "3 8" (seconds) into thresholds in ms; null when invalid. */
export function parseThresholds(s: string): [number, number] | null {
  const parts = s.split(/[\s,/]+/).filter(Boolean).map(Number);
  if (parts.length !== 2 || parts.some((v) => !Number.isFinite(v) || v <= 0)) return null;
  const [a, b] = parts as [number, number];
  return a < b ? [a * 1000, b * 1000] : null;
}

/** Thresholds from the server's `bands_ms` (the agent configuration): the first two of an
 *  ascending list of positive numbers (a 4-band answer folds its last two bands, see
 *  bandCounts); null when absent or malformed. */
export function serverThresholds(bandsMs: readonly number[] | undefined | null): [number, number] | null {
  if (!bandsMs || bandsMs.length < 2) return null;
  const a = bandsMs[0]!;
  const b = bandsMs[1]!;
  if (!Number.isFinite(a) || !Number.isFinite(b) || a <= 0 || b <= a) return null;
  return [a, b];
}

/** The thresholds the equalizer uses: the user's own (kept in the browser) win, then the
 *  server's, then the defaults. */
export function effectiveThresholds(userOverride: string | null, bandsMs: readonly number[] | undefined | null): { t: [number, number]; source: 'user' | 'server' | 'default' } {
  const u = userOverride ? parseThresholds(userOverride) : null;
  if (u) return { t: u, source: 'user' };
  const s = serverThresholds(bandsMs);
  if (s) return { t: s, source: 'server' };
  return { t: [DEFAULT_THRESHOLDS[0], DEFAULT_THRESHOLDS[1]], source: 'default' };
}

/** Seconds as typed in the band input: 3000 → "3", 2500 → "2.5". */
export function fmtThresholds(t: readonly [number, number]): string {
  return t.map((v) => String(v / 1000)).join(', ');
}

/** The current step of an active transaction (`step`, or the older `current_step`). */
export function activeStep(a: ActiveTx): string {
  return a.step ?? a.current_step ?? '';
}

/** Route params that let the profile page find an active transaction once it is stored.
 *  The agent's `id` is its root span id, while stored transactions are keyed by a hash of
 *  (trace id, root span id), so the page looks the trace up and picks this instance's
 *  transaction that started at `start`. A server-provided `tx_id` is used directly. */
export function activeLink(a: ActiveTx, instance: string): { id: string; params: Record<string, string> } | null {
  if (a.tx_id) return { id: a.tx_id, params: { active: '1' } };
  if (!a.id) return null;
  if (!a.trace_id) return { id: a.id, params: { active: '1' } };
  const params: Record<string, string> = { active: '1', trace: a.trace_id, inst: instance };
  if (a.start_ms != null && Number.isFinite(a.start_ms)) params.start = String(Math.round(a.start_ms));
  return { id: a.id, params };
}

/** The transaction of a trace an active entry became: same instance, nearest start time
 *  (within `toleranceMs`, when the start is known). */
export function pickActiveMatch<T extends { id: string; instance: string; start_ms: number }>(txs: readonly T[], instance: string, startMs: number | null, toleranceMs = 1000): T | null {
  let best: T | null = null;
  let bestD = Infinity;
  for (const t of txs) {
    if (instance && t.instance !== instance) continue;
    const d = startMs == null ? 0 : Math.abs(t.start_ms - startMs);
    if (startMs != null && d > toleranceMs) continue;
    if (d < bestD) {
      best = t;
      bestD = d;
    }
  }
  return best;
}
