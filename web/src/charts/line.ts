// Canvas line chart for regularly spaced series (one value per step, NaN = gap). Decimates to
// min/max per pixel column when there are more values than pixels.

import { decimateMinMax } from '../data/decimate';
import { fmtClock } from '../data/format';
import { linearTicks, niceMax, timeTicks } from '../data/scale';
import { fmtTimeTick } from '../data/format';
import { COLORS, FONT, fillTickLabel, hiDpiCanvas, scheduleDraw } from './schedule';

export interface LineOptions {
  color: string;
  format: (v: number) => string;
  /** Smallest y maximum (so a quiet chart is not all noise). */
  minMax?: number;
  /** Counts: no fractional ticks. */
  integer?: boolean;
  /** Fixed y maximum (e.g. 100 for percentages), overriding auto-scaling when data fit. */
  fixedMax?: number;
}

/** Overlays drawn over the data: horizontal levels (alert thresholds) and vertical marks
 *  (state changes). The y scale grows to keep every level in view. */
export interface LineMarks {
  levels: { value: number; color: string; label: string }[];
  marks: { t: number; color: string }[];
}

const PAD = { l: 52, r: 12, t: 10, b: 22 };

export class LineChart {
  readonly el: HTMLElement;
  private readonly c: ReturnType<typeof hiDpiCanvas>;
  private readonly tip: HTMLElement;
  private x0 = 0;
  private step = 1000;
  private ys: Float64Array = new Float64Array(0);
  private hoverPx = -1;
  private overlay: LineMarks = { levels: [], marks: [] };
  private readonly drawFn = () => this.draw();

  constructor(parent: HTMLElement, private readonly opts: LineOptions, testid?: string) {
    this.el = document.createElement('div');
    this.el.className = 'chart line-chart';
    if (testid) this.el.setAttribute('data-testid', testid);
    parent.appendChild(this.el);
    this.c = hiDpiCanvas(this.el, 'layer', () => this.invalidate());
    this.tip = document.createElement('div');
    this.tip.className = 'chart-tip hidden';
    this.el.appendChild(this.tip);
    this.c.canvas.addEventListener('pointermove', (e) => {
      const r = this.c.canvas.getBoundingClientRect();
      this.hoverPx = e.clientX - r.left;
      this.invalidate();
    });
    this.c.canvas.addEventListener('pointerleave', () => {
      this.hoverPx = -1;
      this.invalidate();
    });
  }

  /** Values ys[i] at x0 + i·step (ms). The array is owned by the caller and may be reused. */
  setData(x0: number, stepMs: number, ys: Float64Array): void {
    this.x0 = x0;
    this.step = stepMs;
    this.ys = ys;
    this.el.setAttribute('data-last', String(lastFinite(ys)));
    let max = 0;
    for (let i = 0; i < ys.length; i++) if (ys[i]! > max) max = ys[i]!;
    this.el.setAttribute('data-max', String(max));
    this.invalidate();
  }

  /** Replaces the overlays (thresholds, change marks). */
  setMarks(m: LineMarks): void {
    this.overlay = m;
    this.el.setAttribute('data-levels', m.levels.map((l) => l.value).join(','));
    this.el.setAttribute('data-marks', String(m.marks.length));
    this.invalidate();
  }

  invalidate(): void {
    scheduleDraw(this.drawFn);
  }

  private draw(): void {
    const { w, h, dpr } = this.c.size();
    const ctx = this.c.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const pw = w - PAD.l - PAD.r;
    const ph = h - PAD.t - PAD.b;
    if (pw < 10 || ph < 10) return;
    const n = this.ys.length;
    let max = 0;
    for (let i = 0; i < n; i++) {
      const v = this.ys[i]!;
      if (v > max) max = v;
    }
    for (const l of this.overlay.levels) if (Number.isFinite(l.value) && l.value > max) max = l.value;
    let yMax = niceMax(Math.max(max, this.opts.minMax ?? 0));
    if (this.opts.fixedMax !== undefined && max <= this.opts.fixedMax) yMax = Math.min(yMax, this.opts.fixedMax);
    const xFrom = this.x0;
    const xTo = this.x0 + n * this.step;
    const xs = (t: number) => PAD.l + ((t - xFrom) / (xTo - xFrom || 1)) * pw;
    const ysc = (v: number) => PAD.t + ph - (v / yMax) * ph;

    // Grid and labels.
    ctx.font = FONT;
    ctx.lineWidth = 1;
    ctx.fillStyle = COLORS.label;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    let ticks = linearTicks(0, yMax, Math.max(2, Math.floor(ph / 42)));
    if (this.opts.integer) ticks = ticks.filter((v) => Number.isInteger(v));
    for (const v of ticks) {
      const y = Math.round(ysc(v)) + 0.5;
      ctx.strokeStyle = v === 0 ? COLORS.axis : COLORS.grid;
      ctx.beginPath();
      ctx.moveTo(PAD.l, y);
      ctx.lineTo(PAD.l + pw, y);
      ctx.stroke();
      ctx.fillText(this.opts.format(v), PAD.l - 6, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const tt = timeTicks(xFrom, xTo, Math.max(2, Math.floor(pw / 90)));
    for (const t of tt.ticks) {
      const x = Math.round(xs(t)) + 0.5;
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath();
      ctx.moveTo(x, PAD.t);
      ctx.lineTo(x, PAD.t + ph);
      ctx.stroke();
      fillTickLabel(ctx, fmtTimeTick(t, tt.step), x, PAD.t + ph + 5, w);
    }

    // Data: fill under the line, then the line. Decimate when values outnumber pixels.
    ctx.save();
    ctx.beginPath();
    ctx.rect(PAD.l, PAD.t, pw, ph);
    ctx.clip();
    ctx.strokeStyle = this.opts.color;
    ctx.fillStyle = this.opts.color;
    ctx.lineWidth = 1.5;
    ctx.lineJoin = 'round';
    if (n > pw) {
      const cols = Math.floor(pw);
      const { min, max: mx } = decimateMinMax(this.ys, n, cols);
      ctx.globalAlpha = 0.18;
      for (let c = 0; c < cols; c++) {
        const hi = mx[c]!;
        if (hi !== hi) continue;
        const y = ysc(hi);
        ctx.fillRect(PAD.l + c, y, 1, PAD.t + ph - y);
      }
      ctx.globalAlpha = 1;
      // One continuous path through each column's min and max (breaks at gaps).
      ctx.beginPath();
      let open = false;
      for (let c = 0; c < cols; c++) {
        const lo = min[c]!;
        const hi = mx[c]!;
        if (hi !== hi) {
          open = false;
          continue;
        }
        const x = PAD.l + c + 0.5;
        if (open) ctx.lineTo(x, ysc(lo));
        else ctx.moveTo(x, ysc(lo));
        open = true;
        ctx.lineTo(x, ysc(hi) - (hi === lo ? 0.5 : 0));
      }
      ctx.stroke();
    } else {
      // Area, segment by segment between gaps.
      ctx.globalAlpha = 0.18;
      let open = false;
      let firstX = 0;
      let lastX = 0;
      ctx.beginPath();
      const base = PAD.t + ph;
      for (let i = 0; i <= n; i++) {
        const v = i < n ? this.ys[i]! : NaN;
        const x = xs(this.x0 + (i + 0.5) * this.step);
        if (v === v) {
          if (!open) {
            ctx.moveTo(x, base);
            firstX = x;
            open = true;
          }
          ctx.lineTo(x, ysc(v));
          lastX = x;
        } else if (open) {
          ctx.lineTo(lastX, base);
          ctx.lineTo(firstX, base);
          open = false;
        }
      }
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.beginPath();
      open = false;
      for (let i = 0; i < n; i++) {
        const v = this.ys[i]!;
        const x = xs(this.x0 + (i + 0.5) * this.step);
        if (v !== v) {
          open = false;
          continue;
        }
        if (!open) {
          ctx.moveTo(x, ysc(v));
          open = true;
          // A lone value between gaps still shows as a dot.
          const next = i + 1 < n ? this.ys[i + 1]! : NaN;
          if (next !== next) ctx.fillRect(x - 1.5, ysc(v) - 1.5, 3, 3);
        } else ctx.lineTo(x, ysc(v));
      }
      ctx.stroke();
    }
    // Thresholds as dashed lines labelled at the right; state changes as vertical ticks.
    ctx.setLineDash([5, 4]);
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    for (const l of this.overlay.levels) {
      if (!Number.isFinite(l.value)) continue;
      const y = Math.round(ysc(l.value)) + 0.5;
      ctx.strokeStyle = l.color;
      ctx.beginPath();
      ctx.moveTo(PAD.l, y);
      ctx.lineTo(PAD.l + pw, y);
      ctx.stroke();
      ctx.fillStyle = l.color;
      // Above the line, or below it when the line runs along the top.
      const above = y - PAD.t > 14;
      ctx.textBaseline = above ? 'bottom' : 'top';
      ctx.fillText(l.label, PAD.l + pw - 4, above ? y - 2 : y + 2);
    }
    ctx.setLineDash([]);
    for (const m of this.overlay.marks) {
      if (m.t < xFrom || m.t > xTo) continue;
      const x = Math.round(xs(m.t)) + 0.5;
      ctx.strokeStyle = m.color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x, PAD.t);
      ctx.lineTo(x, PAD.t + ph);
      ctx.stroke();
    }
    ctx.restore();

    // Hover read-out.
    if (this.hoverPx >= PAD.l && this.hoverPx <= PAD.l + pw && n > 0) {
      const i = Math.min(n - 1, Math.max(0, Math.floor(((this.hoverPx - PAD.l) / pw) * n)));
      const v = this.ys[i]!;
      const x = Math.round(this.hoverPx) + 0.5;
      ctx.strokeStyle = COLORS.axis;
      ctx.beginPath();
      ctx.moveTo(x, PAD.t);
      ctx.lineTo(x, PAD.t + ph);
      ctx.stroke();
      this.tip.textContent = fmtClock(this.x0 + i * this.step) + '  ' + (v === v ? this.opts.format(v) : 'no data');
      this.tip.classList.remove('hidden');
      const left = Math.min(this.hoverPx + 10, w - 150);
      this.tip.style.transform = 'translate(' + left + 'px, 4px)';
    } else {
      this.tip.classList.add('hidden');
    }
  }

  dispose(): void {
    this.c.dispose();
  }
}

function lastFinite(ys: Float64Array): number {
  for (let i = ys.length - 1; i >= 0; i--) if (ys[i] === ys[i]) return ys[i]!;
  return NaN;
}
