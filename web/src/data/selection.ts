// X-View drag selection → transaction list query.

import type { Filters } from './urlstate';
import { filtersToApi } from './urlstate';

/** A selected rectangle in data coordinates: end time (ms) × elapsed (ms). */
export interface SelectionRect {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

export function normalizeRect(r: SelectionRect): SelectionRect {
  return {
    x0: Math.min(r.x0, r.x1),
    x1: Math.max(r.x0, r.x1),
    y0: Math.max(0, Math.min(r.y0, r.y1)),
    y1: Math.max(r.y0, r.y1),
  };
}

/** Query parameters for GET /api/v1/transactions covering the rectangle. A transaction is in a
 *  range when `from <= end_ms < to`, so `to` is one past the last millisecond; elapsed bounds
 *  are widened to the microsecond so points drawn on the edge are included. The rectangle's
 *  elapsed bounds win over the filter's minimum only when they are stricter. */
export function selectionToParams(
  rect: SelectionRect,
  filters: Filters,
  sort: 'newest' | 'slowest' | 'sql' | 'external' = 'slowest',
  limit = 1000,
): Record<string, string | number | boolean | undefined> {
  const r = normalizeRect(rect);
  const from = Math.floor(r.x0);
  const to = Math.floor(r.x1) + 1;
  let minMs = Math.floor(r.y0 * 1000) / 1000;
  const maxMs = Math.ceil(r.y1 * 1000) / 1000;
  if (filters.minMs != null && filters.minMs > minMs) minMs = filters.minMs;
  return {
    ...filtersToApi(filters),
    from,
    to,
    min_ms: minMs > 0 ? minMs : undefined,
    max_ms: maxMs,
    sort,
    limit,
  };
}

/** Query parameters for GET /api/v1/transactions that find the transaction drawn as the dot
 *  (end, elapsed), for X-Views loaded without ids (`ids=0`): its millisecond and its elapsed
 *  time to the microsecond (the API rounds both columns the same way). */
export function pointToParams(endMs: number, elapsedMs: number, filters: Filters): Record<string, string | number | boolean | undefined> {
  const from = Math.floor(endMs);
  const e = Math.round(elapsedMs * 1000) / 1000;
  return {
    ...filtersToApi(filters),
    from,
    to: from + 1,
    min_ms: Math.max(0, Math.floor(e * 1000 - 1) / 1000),
    max_ms: Math.ceil(e * 1000 + 1) / 1000,
    sort: 'newest',
    limit: 50,
  };
}

/** The row of a pointToParams answer that is the dot (end, elapsed): exact match first, else
 *  the nearest. */
export function pickPoint<T extends { id: string; end_ms: number; elapsed_ms: number }>(rows: T[], endMs: number, elapsedMs: number): T | null {
  let best: T | null = null;
  let bestD = Infinity;
  for (const r of rows) {
    const d = Math.abs(r.end_ms - endMs) + Math.abs(r.elapsed_ms - elapsedMs);
    if (d < bestD) {
      bestD = d;
      best = r;
    }
  }
  return best;
}

/** Keeps the rectangle inside the domain (used when a drag leaves the plot). */
export function clampRect(r: SelectionRect, xMin: number, xMax: number, yMin: number, yMax: number): SelectionRect {
  const c = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  return { x0: c(r.x0, xMin, xMax), x1: c(r.x1, xMin, xMax), y0: c(r.y0, yMin, yMax), y1: c(r.y1, yMin, yMax) };
}
