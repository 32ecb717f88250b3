// Density bins from GET /api/v1/xview when `binned: true`: cell (x, y) at index x*y_bins + y,
// x linear in time between from_ms and to_ms, y log-scaled in elapsed between y_min_ms and
// y_max_ms (docs/api.md).

import type { XViewBins } from '../api/types';

export function binIndex(b: XViewBins, x: number, y: number): number {
  return x * b.y_bins + y;
}

function yLogBounds(b: XViewBins): [number, number] {
  const lo = Math.log10(Math.max(b.y_min_ms, 1e-3));
  const hi = Math.log10(Math.max(b.y_max_ms, Math.max(b.y_min_ms, 1e-3) * 1.0001));
  return [lo, hi];
}

/** The data rectangle of a cell: time [x0, x1) and elapsed [y0, y1). */
export function cellRect(b: XViewBins, x: number, y: number): { x0: number; x1: number; y0: number; y1: number } {
  const dx = (b.to_ms - b.from_ms) / b.x_bins;
  const [lo, hi] = yLogBounds(b);
  const dy = (hi - lo) / b.y_bins;
  return {
    x0: b.from_ms + x * dx,
    x1: b.from_ms + (x + 1) * dx,
    y0: Math.pow(10, lo + y * dy),
    y1: Math.pow(10, lo + (y + 1) * dy),
  };
}

/** Cell coordinates holding (endMs, elapsedMs), or null outside the grid. */
export function cellOf(b: XViewBins, endMs: number, elapsedMs: number): { x: number; y: number } | null {
  if (endMs < b.from_ms || endMs >= b.to_ms) return null;
  const [lo, hi] = yLogBounds(b);
  const ly = Math.log10(Math.max(elapsedMs, 1e-3));
  if (ly < lo || ly > hi) return null;
  const x = Math.min(b.x_bins - 1, Math.floor(((endMs - b.from_ms) / (b.to_ms - b.from_ms)) * b.x_bins));
  const y = Math.min(b.y_bins - 1, Math.floor(((ly - lo) / (hi - lo)) * b.y_bins));
  return { x, y };
}

/** Largest cell count (for the colour scale) and the total. */
export function binStats(b: XViewBins): { max: number; total: number; errors: number } {
  let max = 0;
  let total = 0;
  let errors = 0;
  for (let i = 0; i < b.count.length; i++) {
    const c = b.count[i]!;
    total += c;
    if (c > max) max = c;
    errors += b.errors[i] ?? 0;
  }
  return { max, total, errors };
}

/** Colour intensity 0…1 for a count on a log scale (so sparse cells stay visible). */
export function intensity(count: number, max: number): number {
  if (count <= 0 || max <= 0) return 0;
  return Math.min(1, 0.15 + (0.85 * Math.log1p(count)) / Math.log1p(max));
}
