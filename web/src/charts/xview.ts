// The X-View: one dot per finished transaction, x = end time, y = elapsed (linear or log),
// errors in red. Points are rasterized into per-pixel counts (decimation to the pixel grid)
// and written into an ImageData, so a million points cost one pass over typed arrays. When
// the API answers with density bins, the cells are drawn instead. Drag selects a rectangle;
// on the analysis page the wheel zooms, shift-drag pans and a double-click resets.

import type { XViewBins } from '../api/types';
import { intensity, binStats } from '../data/bins';
import { rasterize } from '../data/decimate';
import { fmtDateTime, fmtMs, fmtMsAxis, fmtTimeTick } from '../data/format';
import type { PointBuffer } from '../data/points';
import { linearTicks, logTicks, niceMax, timeTicks } from '../data/scale';
import type { SelectionRect } from '../data/selection';
import { normalizeRect } from '../data/selection';
import { COLORS, FONT, fillTickLabel, hiDpiCanvas, scheduleDraw } from './schedule';

const PAD = { l: 56, r: 14, t: 10, b: 24 };

/** ABGR (little-endian RGBA) colours by pixel count: denser pixels brighten towards white,
 *  saturating at 64 points. Index 0 is transparent; the last entry is the error colour. */
const LUT = (() => {
  const lut = new Uint32Array(66);
  const [pr, pg, pb] = COLORS.point;
  for (let c = 1; c <= 64; c++) {
    const k = (Math.min(1, Math.log2(c) / 6)) * 0.7;
    const r = Math.round(pr + (255 - pr) * k);
    const g = Math.round(pg + (255 - pg) * k);
    const b = Math.round(pb + (255 - pb) * k);
    lut[c] = ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
  }
  const [er, eg, eb] = COLORS.error;
  lut[65] = ((255 << 24) | (eb << 16) | (eg << 8) | er) >>> 0;
  return lut;
})();
const ERR = 65;

/** Writes per-pixel counts into RGBA pixels: errors over normal points, `s`×`s` dots
 *  (anchored bottom-left) when s > 1. One pass over the pixel grid when s = 1. */
function paintPixels(px: Uint32Array, counts: Uint16Array, errs: Uint8Array, W: number, H: number, s: number): void {
  if (s === 1) {
    for (let i = 0, n = W * H; i < n; i++) {
      const c = counts[i]!;
      px[i] = c === 0 ? 0 : errs[i]! > 0 ? LUT[ERR]! : LUT[c > 64 ? 64 : c]!;
    }
    return;
  }
  px.fill(0);
  for (let pass = 0; pass < 2; pass++) {
    const src = pass === 0 ? counts : errs;
    for (let y = 0; y < H; y++) {
      const y0 = y - s + 1 < 0 ? 0 : y - s + 1;
      const row = y * W;
      for (let x = 0; x < W; x++) {
        const c = src[row + x]!;
        if (c === 0) continue;
        const color = pass === 1 ? LUT[ERR]! : LUT[c > 64 ? 64 : c]!;
        const xe = x + s > W ? W : x + s;
        for (let yy = y0; yy <= y; yy++) {
          const r = yy * W;
          for (let xx = x; xx < xe; xx++) px[r + xx] = color;
        }
      }
    }
  }
}

export interface XViewOptions {
  /** Wheel zoom, shift-drag pan, double-click reset. */
  zoomable: boolean;
  /** Drag selects a rectangle (reported through onSelect). */
  selectable: boolean;
}

interface View {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

export class XViewChart {
  readonly el: HTMLElement;
  private readonly axes: ReturnType<typeof hiDpiCanvas>;
  private readonly plot: HTMLElement;
  private readonly pts: ReturnType<typeof hiDpiCanvas>;
  private readonly selEl: HTMLElement;
  private readonly emptyEl: HTMLElement;
  private readonly tipEl: HTMLElement;
  private hoverQueued = false;
  private emptyText = '';
  private buf: PointBuffer | null = null;
  private bins: XViewBins | null = null;
  private binTotal = 0;
  private domain = { x0: 0, x1: 1 };
  private view: View | null = null;
  private logY: boolean;
  private selection: SelectionRect | null = null;
  private image: ImageData | null = null;
  private counts = new Uint16Array(0);
  private errs = new Uint8Array(0);
  private logCache = new Float32Array(0);
  private logCacheVersion = -1;
  private logCacheTail = 0;
  private logCacheRef: Float64Array | null = null;
  private drag: { mode: 'select' | 'pan'; px0: number; py0: number; view: View } | null = null;
  /** The view the current raster was drawn for (null before the first draw). */
  private rendered: View | null = null;
  private interactUntil = 0;
  private settleTimer = 0;
  private readonly drawFn = () => this.draw();
  /** Last frame's draw time in ms (for the benchmark and the status line). */
  lastDrawMs = 0;
  onSelect: ((r: SelectionRect | null) => void) | null = null;
  /** A click (no drag) near a point: its transaction id. */
  onPointClick: ((id: string) => void) | null = null;
  /** Looks up the id of a clicked dot that came without one (X-Views loaded with `ids=0`). */
  resolvePoint: ((endMs: number, elapsedMs: number) => Promise<string | null>) | null = null;
  onViewChange: ((zoomed: boolean) => void) | null = null;

  constructor(parent: HTMLElement, private readonly opts: XViewOptions, logY = true) {
    this.logY = logY;
    this.el = document.createElement('div');
    this.el.className = 'chart xview-chart';
    this.el.setAttribute('data-testid', 'xview');
    this.el.setAttribute('data-points', '0');
    parent.appendChild(this.el);
    this.axes = hiDpiCanvas(this.el, 'layer', () => this.invalidate());
    this.plot = document.createElement('div');
    this.plot.className = 'xview-plot' + (opts.selectable ? ' selectable' : '');
    this.plot.setAttribute('role', 'img');
    this.plot.setAttribute('aria-label', 'X-View: transactions by end time and elapsed time; drag to select, click a dot to open it');
    this.plot.style.left = PAD.l + 'px';
    this.plot.style.right = PAD.r + 'px';
    this.plot.style.top = PAD.t + 'px';
    this.plot.style.bottom = PAD.b + 'px';
    this.el.appendChild(this.plot);
    this.pts = hiDpiCanvas(this.plot, 'layer', () => this.invalidate());
    this.selEl = document.createElement('div');
    this.selEl.className = 'xview-sel hidden';
    this.plot.appendChild(this.selEl);
    this.tipEl = document.createElement('div');
    this.tipEl.className = 'chart-tip hidden';
    this.plot.appendChild(this.tipEl);
    this.emptyEl = document.createElement('div');
    this.emptyEl.className = 'xview-empty hidden';
    this.plot.appendChild(this.emptyEl);
    this.bindInput();
  }

  /** Draws the live points of `buf` over the time domain [x0, x1). */
  setPoints(buf: PointBuffer, x0: number, x1: number): void {
    this.buf = buf;
    this.bins = null;
    this.domain = { x0, x1 };
    this.el.setAttribute('data-points', String(buf.length));
    this.el.setAttribute('data-mode', 'points');
    this.invalidate();
  }

  /** Draws density bins (the API's answer beyond max_points). */
  setBins(bins: XViewBins, total: number): void {
    this.bins = bins;
    this.binTotal = total;
    this.buf = null;
    this.domain = { x0: bins.from_ms, x1: bins.to_ms };
    this.el.setAttribute('data-points', String(total));
    this.el.setAttribute('data-mode', 'bins');
    this.invalidate();
  }

  /** Slides the time domain (live use). */
  setDomain(x0: number, x1: number): void {
    this.domain = { x0, x1 };
    if (this.buf) this.el.setAttribute('data-points', String(this.buf.length));
    this.invalidate();
  }

  /** Text shown over the plot when there is nothing to draw ('' for none). */
  setEmptyText(text: string): void {
    this.emptyText = text;
    this.invalidate();
  }

  setLogY(log: boolean): void {
    if (log === this.logY) return;
    this.logY = log;
    this.view = null;
    this.invalidate();
  }

  setSelection(r: SelectionRect | null): void {
    this.selection = r ? normalizeRect(r) : null;
    this.invalidate();
  }

  resetZoom(): void {
    this.view = null;
    this.onViewChange?.(false);
    this.invalidate();
  }

  zoomTo(r: SelectionRect): void {
    const n = normalizeRect(r);
    this.view = { x0: n.x0, x1: n.x1, y0: this.logY ? Math.max(n.y0, 1e-3) : n.y0, y1: n.y1 };
    this.selection = null;
    this.onViewChange?.(true);
    this.invalidate();
  }

  get zoomed(): boolean {
    return this.view !== null;
  }

  invalidate(): void {
    scheduleDraw(this.drawFn);
  }

  /** Automatic y range for the current data. */
  private autoY(): { y0: number; y1: number } {
    let max = 0;
    let min = Infinity;
    if (this.buf) {
      const b = this.buf;
      for (let i = b.head; i < b.tail; i++) {
        const v = b.elapsed[i]!;
        if (v > max) max = v;
        if (v > 0 && v < min) min = v;
      }
    } else if (this.bins) {
      max = this.bins.y_max_ms;
      min = this.bins.y_min_ms;
    }
    if (this.logY) {
      const lo = min === Infinity ? 1 : Math.pow(10, Math.floor(Math.log10(Math.max(min, 0.01))));
      const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(max, lo * 10, 10))));
      return { y0: lo, y1: hi };
    }
    return { y0: 0, y1: niceMax(Math.max(max, 10)) };
  }

  private currentView(): View {
    if (this.view) return this.view;
    const y = this.autoY();
    return { x0: this.domain.x0, x1: this.domain.x1, y0: y.y0, y1: y.y1 };
  }

  private ensureLogCache(b: PointBuffer): void {
    if (this.logCacheRef !== b.elapsed || this.logCacheVersion !== b.version || this.logCache.length !== b.elapsed.length) {
      if (this.logCache.length !== b.elapsed.length) this.logCache = new Float32Array(b.elapsed.length);
      this.logCacheRef = b.elapsed;
      this.logCacheVersion = b.version;
      this.logCacheTail = b.head;
    }
    const e = b.elapsed;
    const c = this.logCache;
    for (let i = Math.max(this.logCacheTail, b.head); i < b.tail; i++) {
      const v = e[i]!;
      c[i] = Math.log10(v > 1e-3 ? v : 1e-3);
    }
    this.logCacheTail = b.tail;
  }

  private draw(): void {
    const t0 = performance.now();
    const v = this.currentView();
    this.drawAxes(v);
    // While the user pans or zooms, the last raster is moved with a CSS transform (cheap, every
    // frame) and redrawn only when the interaction pauses — uPlot's "canvas for data, CSS
    // transforms for moving things".
    const interacting = this.interactUntil > t0 && this.rendered !== null && !this.bins;
    if (interacting) {
      this.transformRaster(v);
      window.clearTimeout(this.settleTimer);
      this.settleTimer = window.setTimeout(() => this.invalidate(), this.interactUntil - t0 + 5);
    } else {
      this.drawData(v);
      this.pts.canvas.style.transform = '';
      this.rendered = { ...v };
      this.lastDrawMs = performance.now() - t0;
      this.el.setAttribute('data-draw-ms', this.lastDrawMs.toFixed(1));
    }
    this.placeSelection(v);
    const empty = this.bins ? this.binTotal === 0 : !this.buf || this.buf.length === 0;
    this.emptyEl.textContent = this.emptyText;
    this.emptyEl.classList.toggle('hidden', !(empty && this.emptyText));
    this.el.setAttribute('data-frame-ms', (performance.now() - t0).toFixed(1));
  }

  /** Marks a pan/zoom step: the data raster is redrawn once input has been quiet for a while. */
  private interacted(): void {
    this.interactUntil = performance.now() + 90;
  }

  /** Maps the last raster (drawn for this.rendered) onto view v with a CSS matrix. */
  private transformRaster(v: View): void {
    const r = this.rendered!;
    const { w, h } = this.pts.size();
    const a = (r.x1 - r.x0) / (v.x1 - v.x0);
    const b = ((r.x0 - v.x0) / (v.x1 - v.x0)) * w;
    const f = this.logY ? Math.log10 : (y: number) => y;
    // y grows downwards in pixels: py = h − (f(y) − f(y0)) / (f(y1) − f(y0)) · h
    const c = (f(r.y1) - f(r.y0)) / (f(v.y1) - f(v.y0));
    const d = h - c * h - ((f(r.y0) - f(v.y0)) / (f(v.y1) - f(v.y0))) * h;
    this.pts.canvas.style.transform = 'matrix(' + [a, 0, 0, c, b, d].map((n) => (Number.isFinite(n) ? n : 0).toFixed(4)).join(',') + ')';
  }

  private drawAxes(v: View): void {
    const { w, h, dpr } = this.axes.size();
    const ctx = this.axes.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const pw = w - PAD.l - PAD.r;
    const ph = h - PAD.t - PAD.b;
    if (pw < 10 || ph < 10) return;
    ctx.font = FONT;
    ctx.lineWidth = 1;
    ctx.fillStyle = COLORS.label;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    const yPx = this.yToPx(v, ph);
    const ticks = this.logY ? logTicks(v.y0, v.y1) : linearTicks(v.y0, v.y1, Math.max(2, Math.floor(ph / 40)));
    for (const t of ticks) {
      const y = Math.round(PAD.t + yPx(t)) + 0.5;
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath();
      ctx.moveTo(PAD.l, y);
      ctx.lineTo(PAD.l + pw, y);
      ctx.stroke();
      ctx.fillText(fmtMsAxis(t), PAD.l - 6, y);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const tt = timeTicks(v.x0, v.x1, Math.max(2, Math.floor(pw / 100)));
    for (const t of tt.ticks) {
      const x = Math.round(PAD.l + ((t - v.x0) / (v.x1 - v.x0)) * pw) + 0.5;
      ctx.strokeStyle = COLORS.grid;
      ctx.beginPath();
      ctx.moveTo(x, PAD.t);
      ctx.lineTo(x, PAD.t + ph);
      ctx.stroke();
      fillTickLabel(ctx, fmtTimeTick(t, tt.step), x, PAD.t + ph + 6, w);
    }
    ctx.strokeStyle = COLORS.axis;
    ctx.strokeRect(PAD.l + 0.5, PAD.t + 0.5, pw - 1, ph - 1);
  }

  /** Elapsed → pixel row from the top of the plot (CSS pixels). */
  private yToPx(v: View, ph: number): (y: number) => number {
    if (this.logY) {
      const l0 = Math.log10(v.y0);
      const l1 = Math.log10(v.y1);
      return (y) => ph - ((Math.log10(Math.max(y, 1e-3)) - l0) / (l1 - l0)) * ph;
    }
    return (y) => ph - ((y - v.y0) / (v.y1 - v.y0)) * ph;
  }

  private pxToY(v: View, ph: number, py: number): number {
    const f = 1 - py / ph;
    if (this.logY) {
      const l0 = Math.log10(v.y0);
      const l1 = Math.log10(v.y1);
      return Math.pow(10, l0 + f * (l1 - l0));
    }
    return v.y0 + f * (v.y1 - v.y0);
  }

  private drawData(v: View): void {
    const { w, h, dpr } = this.pts.size();
    const W = Math.round(w * dpr);
    const H = Math.round(h * dpr);
    const ctx = this.pts.ctx;
    if (this.bins) {
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, W, H);
      this.drawBins(ctx, v, W, H);
      this.el.setAttribute('data-drawn', String(this.binTotal));
      return;
    }
    const b = this.buf;
    if (!b || W < 2 || H < 2) {
      ctx.clearRect(0, 0, W, H);
      this.el.setAttribute('data-drawn', '0');
      return;
    }
    if (!this.image || this.image.width !== W || this.image.height !== H) {
      this.image = ctx.createImageData(W, H);
      this.counts = new Uint16Array(W * H);
      this.errs = new Uint8Array(W * H);
    } else {
      this.counts.fill(0);
      this.errs.fill(0);
    }
    let inside: number;
    if (this.logY) {
      this.ensureLogCache(b);
      inside = rasterize(b.end, this.logCache, b.err, b.head, b.tail, v.x0, v.x1, Math.log10(v.y0), Math.log10(v.y1), W, H, this.counts, this.errs);
    } else {
      inside = rasterize(b.end, b.elapsed, b.err, b.head, b.tail, v.x0, v.x1, v.y0, v.y1, W, H, this.counts, this.errs);
    }
    this.el.setAttribute('data-drawn', String(inside));
    const px = new Uint32Array(this.image.data.buffer);
    // Dot size: big dots while sparse (readable from across the room), single pixels when dense.
    const base = inside < 2_000 ? 4 : inside < 10_000 ? 3 : inside < 150_000 ? 2 : 1;
    const s = Math.max(1, Math.round(base * dpr));
    paintPixels(px, this.counts, this.errs, W, H, s);
    ctx.putImageData(this.image, 0, 0);
  }

  private drawBins(ctx: CanvasRenderingContext2D, v: View, W: number, H: number): void {
    const b = this.bins!;
    const { max } = binStats(b);
    const dx = (b.to_ms - b.from_ms) / b.x_bins;
    const lo = Math.log10(Math.max(b.y_min_ms, 1e-3));
    const hi = Math.log10(Math.max(b.y_max_ms, Math.max(b.y_min_ms, 1e-3) * 1.0001));
    const dy = (hi - lo) / b.y_bins;
    const kx = W / (v.x1 - v.x0);
    const yPx = this.yToPx(v, H);
    const [pr, pg, pb] = COLORS.point;
    for (let x = 0; x < b.x_bins; x++) {
      const t0 = b.from_ms + x * dx;
      const px0 = (t0 - v.x0) * kx;
      const px1 = (t0 + dx - v.x0) * kx;
      if (px1 < 0 || px0 > W) continue;
      for (let y = 0; y < b.y_bins; y++) {
        const idx = x * b.y_bins + y;
        const c = b.count[idx]!;
        if (!c) continue;
        const e = b.errors[idx] ?? 0;
        const a = intensity(c, max);
        const yTop = yPx(Math.pow(10, lo + (y + 1) * dy));
        const yBot = yPx(Math.pow(10, lo + y * dy));
        ctx.fillStyle = e > 0 && e * 2 >= c
          ? 'rgba(255,77,79,' + a.toFixed(3) + ')'
          : 'rgba(' + pr + ',' + pg + ',' + pb + ',' + a.toFixed(3) + ')';
        ctx.fillRect(Math.floor(px0), Math.floor(yTop), Math.max(1, Math.ceil(px1 - px0)), Math.max(1, Math.ceil(yBot - yTop)));
        if (e > 0 && e * 2 < c) {
          ctx.fillStyle = 'rgba(255,77,79,' + intensity(e, max).toFixed(3) + ')';
          ctx.fillRect(Math.floor(px0), Math.floor(yTop), Math.max(1, Math.ceil(px1 - px0)), Math.max(1, Math.ceil((yBot - yTop) / 3)));
        }
      }
    }
  }

  private placeSelection(v: View): void {
    const r = this.selection;
    if (!r && !this.drag) {
      this.selEl.classList.add('hidden');
      return;
    }
    if (!r) return;
    const { w, h } = this.pts.size();
    const yPx = this.yToPx(v, h);
    const x0 = ((r.x0 - v.x0) / (v.x1 - v.x0)) * w;
    const x1 = ((r.x1 - v.x0) / (v.x1 - v.x0)) * w;
    const yTop = yPx(r.y1);
    const yBot = yPx(Math.max(r.y0, this.logY ? v.y0 : r.y0));
    this.setSelBox(x0, yTop, x1, yBot, w, h);
  }

  private setSelBox(x0: number, y0: number, x1: number, y1: number, w: number, h: number): void {
    const l = Math.max(0, Math.min(x0, x1));
    const r = Math.min(w, Math.max(x0, x1));
    const t = Math.max(0, Math.min(y0, y1));
    const b = Math.min(h, Math.max(y0, y1));
    if (r <= l || b <= t) {
      this.selEl.classList.add('hidden');
      return;
    }
    this.selEl.classList.remove('hidden');
    this.selEl.style.transform = 'translate(' + l + 'px,' + t + 'px)';
    this.selEl.style.width = r - l + 'px';
    this.selEl.style.height = b - t + 'px';
  }

  private bindInput(): void {
    const p = this.plot;
    const local = (e: MouseEvent) => {
      const r = p.getBoundingClientRect();
      return { x: e.clientX - r.left, y: e.clientY - r.top, w: r.width, h: r.height };
    };
    p.addEventListener('pointerdown', (e) => {
      const pan = this.opts.zoomable && (e.shiftKey || e.button === 1 || e.button === 2);
      if (!pan && (!this.opts.selectable || e.button !== 0)) return;
      const l = local(e);
      this.drag = { mode: pan ? 'pan' : 'select', px0: l.x, py0: l.y, view: this.currentView() };
      p.setPointerCapture(e.pointerId);
      e.preventDefault();
    });
    p.addEventListener('pointermove', (e) => {
      const d = this.drag;
      if (!d) {
        this.hover(local(e));
        return;
      }
      this.tipEl.classList.add('hidden');
      const l = local(e);
      if (d.mode === 'select') {
        this.setSelBox(d.px0, d.py0, Math.max(0, Math.min(l.w, l.x)), Math.max(0, Math.min(l.h, l.y)), l.w, l.h);
        return;
      }
      const v = d.view;
      const dxv = ((l.x - d.px0) / l.w) * (v.x1 - v.x0);
      let y0 = v.y0;
      let y1 = v.y1;
      const fy = (l.y - d.py0) / l.h;
      if (this.logY) {
        const a = Math.log10(v.y0);
        const b = Math.log10(v.y1);
        const s = fy * (b - a);
        y0 = Math.pow(10, a + s);
        y1 = Math.pow(10, b + s);
      } else {
        const s = fy * (v.y1 - v.y0);
        y0 = v.y0 + s;
        y1 = v.y1 + s;
      }
      this.view = { x0: v.x0 - dxv, x1: v.x1 - dxv, y0, y1 };
      this.interacted();
      this.onViewChange?.(true);
      this.invalidate();
    });
    const end = (e: PointerEvent) => {
      const d = this.drag;
      if (!d) return;
      this.drag = null;
      if (d.mode !== 'select') {
        this.interactUntil = 0;
        this.invalidate();
        return;
      }
      const l = local(e);
      const x = Math.max(0, Math.min(l.w, l.x));
      const y = Math.max(0, Math.min(l.h, l.y));
      if (Math.abs(x - d.px0) < 4 && Math.abs(y - d.py0) < 4) {
        const i = this.hitIndex(x, y, l.w, l.h);
        const b = this.buf;
        const id = i >= 0 && b ? b.ids[i] : undefined;
        if (id && this.onPointClick) {
          this.onPointClick(id);
          return;
        }
        if (i >= 0 && b && this.resolvePoint && this.onPointClick) {
          const open = this.onPointClick;
          this.plot.classList.add('resolving');
          void this.resolvePoint(b.end[i]!, b.elapsed[i]!)
            .then((found) => {
              if (found) open(found);
            })
            .catch(() => {})
            .finally(() => this.plot.classList.remove('resolving'));
          return;
        }
        this.selection = null;
        this.invalidate();
        this.onSelect?.(null);
        return;
      }
      const v = d.view;
      const toX = (px: number) => v.x0 + (px / l.w) * (v.x1 - v.x0);
      const rect = normalizeRect({ x0: toX(d.px0), x1: toX(x), y0: this.pxToY(v, l.h, Math.max(d.py0, y)), y1: this.pxToY(v, l.h, Math.min(d.py0, y)) });
      // A drag that reaches the bottom edge of the unzoomed plot takes everything below too
      // (points under the axis minimum are drawn on the bottom row).
      if (!this.view && Math.max(d.py0, y) >= l.h - 4) rect.y0 = 0;
      this.selection = rect;
      this.invalidate();
      this.onSelect?.(rect);
    };
    p.addEventListener('pointerup', end);
    p.addEventListener('pointerleave', () => {
      this.tipEl.classList.add('hidden');
      p.classList.remove('over-point');
    });
    p.addEventListener('pointercancel', () => {
      this.drag = null;
      this.invalidate();
    });
    p.addEventListener('contextmenu', (e) => {
      if (this.opts.zoomable) e.preventDefault();
    });
    if (!this.opts.zoomable) return;
    p.addEventListener(
      'wheel',
      (e) => {
        e.preventDefault();
        const l = local(e);
        const v = this.currentView();
        const f = Math.pow(1.0015, e.deltaY * (e.deltaMode === 1 ? 20 : 1));
        if (e.shiftKey || e.altKey || e.ctrlKey) {
          const fy = 1 - l.y / l.h;
          if (this.logY) {
            const a = Math.log10(v.y0);
            const b = Math.log10(v.y1);
            const c = a + fy * (b - a);
            this.view = { ...v, y0: Math.pow(10, c - (c - a) * f), y1: Math.pow(10, c + (b - c) * f) };
          } else {
            const c = v.y0 + fy * (v.y1 - v.y0);
            this.view = { ...v, y0: Math.max(0, c - (c - v.y0) * f), y1: c + (v.y1 - c) * f };
          }
        } else {
          const c = v.x0 + (l.x / l.w) * (v.x1 - v.x0);
          const x0 = c - (c - v.x0) * f;
          const x1 = c + (v.x1 - c) * f;
          if (x1 - x0 < 10) return; // 10 ms is deep enough
          this.view = { ...v, x0, x1 };
        }
        this.interacted();
        this.onViewChange?.(true);
        this.invalidate();
      },
      { passive: false },
    );
    p.addEventListener('dblclick', () => this.resetZoom());
  }

  /** Index (in the buffer) of the point nearest to (px, py), or -1. */
  private hitIndex(px: number, py: number, w: number, h: number): number {
    const b = this.buf;
    if (!b || b.length === 0) return -1;
    const v = this.currentView();
    const kx = w / (v.x1 - v.x0);
    const yPx = this.yToPx(v, h);
    // Search in data space first (cheap bounds), then measure in pixels.
    const dx = 8 / kx;
    const xLo = v.x0 + px / kx - dx;
    const xHi = v.x0 + px / kx + dx;
    let best = -1;
    let bestD = 64;
    // Without ids a dot is still clickable when its id can be looked up.
    const anyId = this.resolvePoint !== null;
    for (let i = b.head; i < b.tail; i++) {
      const x = b.end[i]!;
      if (x < xLo || x > xHi) continue;
      const ddx = (x - v.x0) * kx - px;
      const ddy = yPx(b.elapsed[i]!) - py;
      const d = ddx * ddx + ddy * ddy - (b.err[i] ? 4 : 0);
      if (d <= bestD && (anyId || b.ids[i])) {
        bestD = d;
        best = i;
      }
    }
    return best;
  }

  /** Hover read-out of the point under the cursor (once per animation frame at most). */
  private hover(l: { x: number; y: number; w: number; h: number }): void {
    if (this.hoverQueued || !this.onPointClick) return;
    this.hoverQueued = true;
    requestAnimationFrame(() => {
      this.hoverQueued = false;
      const i = this.hitIndex(l.x, l.y, l.w, l.h);
      this.plot.classList.toggle('over-point', i >= 0);
      if (i < 0) {
        this.tipEl.classList.add('hidden');
        return;
      }
      const b = this.buf!;
      this.tipEl.textContent = fmtDateTime(b.end[i]!).slice(11) + ' · ' + fmtMs(b.elapsed[i]!) + (b.err[i] ? ' · error' : '');
      this.tipEl.classList.toggle('err-tip', b.err[i] === 1);
      this.tipEl.classList.remove('hidden');
      const left = Math.min(l.x + 12, l.w - 190);
      const top = l.y > 40 ? l.y - 30 : l.y + 14;
      this.tipEl.style.transform = 'translate(' + Math.max(0, left) + 'px,' + top + 'px)';
    });
  }

  /** Visible data range (for "zoom → fetch" and the benchmark). */
  visible(): View {
    return this.currentView();
  }

  dispose(): void {
    window.clearTimeout(this.settleTimer);
    this.axes.dispose();
    this.pts.dispose();
  }
}
