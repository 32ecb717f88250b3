// One batched redraw per animation frame for every chart that changed (uPlot's commit()).

const dirty = new Set<() => void>();
let queued = false;

export function scheduleDraw(fn: () => void): void {
  dirty.add(fn);
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => {
    queued = false;
    const fns = Array.from(dirty);
    dirty.clear();
    for (const f of fns) f();
  });
}

export const COLORS = {
  bg: '#0f1420',
  grid: 'rgba(255,255,255,0.07)',
  axis: 'rgba(255,255,255,0.25)',
  label: '#8b96ad',
  text: '#d8deea',
  accent: '#4cc9f0',
  point: [76, 201, 240] as const,
  error: [255, 77, 79] as const,
  tps: '#4cc9f0',
  rt: '#b388ff',
  err: '#ff6b6b',
  select: 'rgba(255, 214, 0, 0.9)',
};

export const FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif';

/** A canvas sized to its CSS box in device pixels, re-sized by a ResizeObserver. */
export function hiDpiCanvas(parent: HTMLElement, cls: string, onResize: () => void): {
  canvas: HTMLCanvasElement;
  ctx: CanvasRenderingContext2D;
  size: () => { w: number; h: number; dpr: number };
  dispose: () => void;
} {
  const canvas = document.createElement('canvas');
  canvas.className = cls;
  parent.appendChild(canvas);
  const ctx = canvas.getContext('2d')!;
  let w = 0;
  let h = 0;
  let dpr = 1;
  const measure = () => {
    const r = canvas.getBoundingClientRect();
    dpr = window.devicePixelRatio || 1;
    const nw = Math.max(1, Math.round(r.width));
    const nh = Math.max(1, Math.round(r.height));
    if (nw !== w || nh !== h || canvas.width !== Math.round(nw * dpr)) {
      w = nw;
      h = nh;
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
      onResize();
    }
  };
  const ro = new ResizeObserver(measure);
  ro.observe(canvas);
  measure();
  return { canvas, ctx, size: () => ({ w, h, dpr }), dispose: () => ro.disconnect() };
}

/** Draws a centred x-axis label, shifted inwards when it would be clipped at either edge. */
export function fillTickLabel(ctx: CanvasRenderingContext2D, text: string, x: number, y: number, width: number): void {
  const half = ctx.measureText(text).width / 2;
  const cx = Math.min(width - half - 2, Math.max(half + 2, x));
  ctx.fillText(text, cx, y);
}
