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

/** Band counts for an instance: from its transactions when listed, else the server's bands. */
export function bandCounts(i: ActiveInstance, t: readonly [number, number]): [number, number, number] {
  const list = activeList(i);
  if (list.length > 0 || !i.bands) {
    const c: [number, number, number] = [0, 0, 0];
    for (const a of list) c[bandOf(a.elapsed_ms, t)]++;
    return c;
  }
  const b = i.bands;
  // A 4-band (JENNIFER-style) answer folds its last two bands into "very slow".
  return [b[0] ?? 0, b[1] ?? 0, (b[2] ?? 0) + (b[3] ?? 0)];
}

/** Parses "3,8" or "3 8" (seconds) into thresholds in ms; null when invalid. */
export function parseThresholds(s: string): [number, number] | null {
  const parts = s.split(/[\s,/]+/).filter(Boolean).map(Number);
  if (parts.length !== 2 || parts.some((v) => !Number.isFinite(v) || v <= 0)) return null;
  const [a, b] = parts as [number, number];
  return a < b ? [a * 1000, b * 1000] : null;
}
