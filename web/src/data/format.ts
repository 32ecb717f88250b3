// Display formatting. Pure functions; times are shown in the browser's local time zone.

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** 1234567 → "1,234,567"; null/NaN → "–". */
export function fmtInt(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '–';
  return intFmt.format(Math.round(v));
}

/** Compact count for tiles and axes: 950, 1.2k, 34k, 1.5M. */
export function fmtCompact(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a < 1000) return a < 10 && v % 1 !== 0 ? v.toFixed(1) : String(Math.round(v));
  if (a < 1e6) return trim(v / 1e3, a < 1e4 ? 1 : 0) + 'k';
  if (a < 1e9) return trim(v / 1e6, a < 1e7 ? 1 : 0) + 'M';
  return trim(v / 1e9, 1) + 'G';
}

function trim(v: number, digits: number): string {
  return v.toFixed(digits).replace(/\.0+$/, '');
}

/** Elapsed milliseconds: "0.42 ms", "12.3 ms", "950 ms", "1.25 s", "2 m 05 s". */
export function fmtMs(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '–';
  const a = Math.abs(ms);
  if (a < 1) return ms.toFixed(2) + ' ms';
  if (a < 100) return ms.toFixed(1) + ' ms';
  if (a < 1000) return Math.round(ms) + ' ms';
  if (a < 60_000) return (ms / 1000).toFixed(a < 10_000 ? 2 : 1) + ' s';
  const m = Math.floor(a / 60_000);
  const s = Math.floor((a % 60_000) / 1000);
  return (ms < 0 ? '-' : '') + m + ' m ' + String(s).padStart(2, '0') + ' s';
}

/** Short axis label for elapsed values: "5ms", "1.5s". */
export function fmtMsAxis(ms: number): string {
  if (ms >= 1000) return trim(ms / 1000, ms % 1000 === 0 ? 0 : 1) + 's';
  if (ms >= 1 || ms === 0) return trim(ms, ms < 10 && ms % 1 !== 0 ? 1 : 0) + 'ms';
  return trim(ms, 2) + 'ms';
}

/** Percentage with one decimal: 3.14159 → "3.1 %". */
export function fmtPct(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '–';
  return (v < 10 && v !== 0 ? v.toFixed(2) : v.toFixed(1)) + ' %';
}

function pad2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

/** Local wall-clock time "HH:MM:SS". */
export function fmtClock(ms: number): string {
  const d = new Date(ms);
  return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
}

/** Local "HH:MM" for axes. */
export function fmtHourMin(ms: number): string {
  const d = new Date(ms);
  return pad2(d.getHours()) + ':' + pad2(d.getMinutes());
}

/** Local "YYYY-MM-DD HH:MM:SS.mmm". */
export function fmtDateTime(ms: number, withMillis = true): string {
  const d = new Date(ms);
  const base =
    d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' +
    pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  return withMillis ? base + '.' + String(d.getMilliseconds()).padStart(3, '0') : base;
}

/** Value for an <input type="datetime-local"> in local time (minute precision). */
export function toDateTimeLocal(ms: number): string {
  const d = new Date(ms);
  return (
    d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + 'T' +
    pad2(d.getHours()) + ':' + pad2(d.getMinutes())
  );
}

/** Parses an <input type="datetime-local"> value as local time; NaN when empty/invalid. */
export function fromDateTimeLocal(s: string): number {
  if (!s) return NaN;
  const t = new Date(s).getTime();
  return Number.isFinite(t) ? t : NaN;
}

/** Axis label for a time tick, choosing precision from the tick spacing. */
export function fmtTimeTick(ms: number, spacingMs: number): string {
  if (spacingMs < 60_000) return fmtClock(ms);
  const d = new Date(ms);
  if (spacingMs >= 86_400_000 || (d.getHours() === 0 && d.getMinutes() === 0 && spacingMs >= 3_600_000)) {
    return pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + (spacingMs < 86_400_000 ? ' ' + fmtHourMin(ms) : '');
  }
  return fmtHourMin(ms);
}
