// Active stack: the server aggregates sampled stacks of long-running transactions into frames
// with their share of samples; this module only orders and formats them for the table.

import type { ActiveStackResponse, StackFrame } from '../api/types';

export type FrameSort = 'samples' | 'self_samples' | 'frame';

export const FRAME_SORTS: readonly FrameSort[] = ['samples', 'self_samples', 'frame'];

export function parseFrameSort(s: string | undefined): FrameSort {
  return (FRAME_SORTS as readonly string[]).includes(s ?? '') ? (s as FrameSort) : 'samples';
}

/** A share as a fraction 0…1. Counts are exact, so samples / total is used whenever the
 *  total is known; otherwise the server's share, which is a percentage (0…100). Clamped. */
export function shareOf(sharePct: number | undefined | null, samples: number, total: number): number {
  let v: number;
  if (total > 0 && Number.isFinite(samples)) v = samples / total;
  else if (sharePct != null && Number.isFinite(sharePct)) v = sharePct / 100;
  else v = 0;
  return Math.max(0, Math.min(1, v));
}

export interface FrameRow {
  frame: string;
  samples: number;
  share: number;
  selfSamples: number;
  selfShare: number;
}

/** Frames as table rows, sorted: counts descending (ties by name), names ascending. */
export function frameRows(res: Pick<ActiveStackResponse, 'samples' | 'frames'>, sort: FrameSort): FrameRow[] {
  const total = res.samples ?? 0;
  const rows: FrameRow[] = (res.frames ?? []).map((f: StackFrame) => ({
    frame: f.frame ?? '',
    samples: f.samples ?? 0,
    share: shareOf(f.share, f.samples ?? 0, total),
    selfSamples: f.self_samples ?? 0,
    selfShare: shareOf(f.self_share, f.self_samples ?? 0, total),
  }));
  const byName = (a: FrameRow, b: FrameRow) => (a.frame < b.frame ? -1 : a.frame > b.frame ? 1 : 0);
  if (sort === 'frame') rows.sort(byName);
  else if (sort === 'self_samples') rows.sort((a, b) => b.selfSamples - a.selfSamples || b.samples - a.samples || byName(a, b));
  else rows.sort((a, b) => b.samples - a.samples || b.selfSamples - a.selfSamples || byName(a, b));
  return rows;
}

/** A share for display: "100 %", "42.5 %", "3.14 %", "0.05 %", "< 0.01 %", "0 %". */
export function fmtShare(fraction: number): string {
  if (!Number.isFinite(fraction) || fraction <= 0) return '0 %';
  const p = fraction * 100;
  if (p >= 99.995) return '100 %';
  if (p >= 10) return p.toFixed(1) + ' %';
  if (p >= 0.01) return p.toFixed(2) + ' %';
  return '< 0.01 %';
}

/** Bar width in percent for a share (at least a hairline when the share is not zero). */
export function barWidth(fraction: number): string {
  if (!(fraction > 0)) return '0%';
  return Math.max(0.5, Math.min(100, fraction * 100)).toFixed(2) + '%';
}

/** What a frame is, for its badge: the agent writes open steps as "sql …", "method …",
 *  "external …", "message …"; the outermost frame is the transaction (its endpoint). */
export function frameKind(frame: string): 'sql' | 'method' | 'external' | 'message' | 'native' {
  const m = /^(sql|method|external|message|http)\b/i.exec(frame);
  if (!m) return 'native';
  const k = m[1]!.toLowerCase();
  return k === 'http' ? 'external' : (k as 'sql' | 'method' | 'external' | 'message');
}

/** Endpoints by samples, descending, with their share of the largest (for bars). */
export function endpointRows(res: Pick<ActiveStackResponse, 'endpoints'>): { endpoint: string; samples: number; rel: number }[] {
  const list = (res.endpoints ?? []).slice().sort((a, b) => b.samples - a.samples || (a.endpoint < b.endpoint ? -1 : 1));
  const max = list.length ? Math.max(1, list[0]!.samples) : 1;
  return list.map((e) => ({ endpoint: e.endpoint, samples: e.samples, rel: e.samples / max }));
}
