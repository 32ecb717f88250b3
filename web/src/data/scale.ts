// Scales and tick generation for the canvas charts.

/** "Nice" tick step ≥ span/target: 1, 2 or 5 × 10^k. */
export function niceStep(span: number, target: number): number {
  if (!(span > 0) || !(target > 0)) return 1;
  const raw = span / target;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const n = raw / mag;
  const f = n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10;
  return f * mag;
}

/** Linear ticks in [min, max] with about `target` intervals. */
export function linearTicks(min: number, max: number, target = 5): number[] {
  if (!(max > min)) return [min];
  const step = niceStep(max - min, target);
  const out: number[] = [];
  const first = Math.ceil(min / step - 1e-9) * step;
  for (let v = first; v <= max + step * 1e-9; v += step) out.push(Number((Math.round(v / step) * step).toPrecision(12)) + 0);
  return out;
}

/** Upper bound for a value axis: a nice number ≥ max (and > 0). */
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const step = niceStep(max, 4);
  return Math.ceil(max / step - 1e-9) * step;
}

/** Decade ticks (1, 10, 100 … and optionally 2/5 multiples) between min and max, both > 0. */
export function logTicks(min: number, max: number): number[] {
  const out: number[] = [];
  if (!(min > 0) || !(max > min)) return out;
  const lo = Math.floor(Math.log10(min));
  const hi = Math.ceil(Math.log10(max));
  const decades = hi - lo;
  const mults = decades <= 3 ? [1, 2, 5] : [1];
  for (let e = lo; e <= hi; e++) {
    for (const m of mults) {
      const v = m * Math.pow(10, e);
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(Number(v.toPrecision(6)));
    }
  }
  return out;
}

/** Time ticks aligned to local wall-clock units with about `target` intervals. */
export function timeTicks(from: number, to: number, target = 6): { ticks: number[]; step: number } {
  const span = to - from;
  const steps = [
    1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000,
    1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
    172_800_000, 604_800_000,
  ];
  let step = steps[steps.length - 1]!;
  for (const s of steps) {
    if (span / s <= target) {
      step = s;
      break;
    }
  }
  // Align to local time: offset by the time zone so hour/day ticks fall on local boundaries.
  const tz = new Date(from).getTimezoneOffset() * 60_000;
  const first = Math.ceil((from - tz) / step) * step + tz;
  const ticks: number[] = [];
  for (let t = first; t <= to; t += step) ticks.push(t);
  return { ticks, step };
}

/** Maps a value domain to a pixel range; `log` uses log10 (values ≤ 0 clamp to `min`). */
export interface Scale {
  readonly min: number;
  readonly max: number;
  readonly log: boolean;
  /** Value → pixel. */
  toPx(v: number): number;
  /** Pixel → value. */
  fromPx(px: number): number;
}

export function makeScale(min: number, max: number, p0: number, p1: number, log = false): Scale {
  if (log) {
    const lmin = Math.log10(Math.max(min, 1e-6));
    const lmax = Math.log10(Math.max(max, min * 10, 1e-5));
    const k = (p1 - p0) / (lmax - lmin);
    return {
      min, max, log,
      toPx: (v) => p0 + (Math.log10(v > 0 ? v : 1e-6) - lmin) * k,
      fromPx: (px) => Math.pow(10, lmin + (px - p0) / k),
    };
  }
  const span = max - min || 1;
  const k = (p1 - p0) / span;
  return {
    min, max, log,
    toPx: (v) => p0 + (v - min) * k,
    fromPx: (px) => min + (px - p0) / k,
  };
}
