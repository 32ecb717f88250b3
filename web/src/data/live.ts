// Live dashboard state: per-second series rings, the X-View tail and the event feed, merged
// from the backfill responses and the one-a-second WebSocket frames. Pure (no DOM).

import type { LiveEvent, LiveFrame, SeriesResponse, XViewResponse } from '../api/types';
import { PointBuffer } from './points';
import { TimeRing } from './ring';

export const LIVE_WINDOW_MS = 10 * 60 * 1000;
export const LIVE_SECONDS = LIVE_WINDOW_MS / 1000;
export const MAX_EVENTS = 200;

export interface Tiles {
  todayCalls: number | null;
  tps: number | null;
  avgMs: number | null;
  errorRate: number | null;
  users: number | null;
}

export class LiveState {
  readonly tps = new TimeRing(LIVE_SECONDS + 60);
  readonly rt = new TimeRing(LIVE_SECONDS + 60);
  readonly errRate = new TimeRing(LIVE_SECONDS + 60);
  readonly points = new PointBuffer(4096);
  /** Newest first. */
  events: LiveEvent[] = [];
  tiles: Tiles = { todayCalls: null, tps: null, avgMs: null, errorRate: null, users: null };
  /** Server time of the newest frame (or backfill end); the charts' right edge follows it. */
  nowMs = 0;
  /** Local clock minus server clock, so the scroll stays smooth between frames. */
  skewMs = 0;
  pointsDropped = 0;
  frames = 0;
  /** Ids from the X-View backfill near its end, to drop duplicates the first frames repeat. */
  private recentIds = new Set<string>();
  private backfillTo = 0;

  /** Loads a /series response (step 1 s) into one of the rings. */
  backfillSeries(ring: TimeRing, res: SeriesResponse): void {
    const s = res.series[0];
    if (!s) return;
    for (let i = 0; i < s.values.length; i++) {
      const v = s.values[i];
      ring.put(res.from_ms + i * res.step_ms, v === undefined ? null : v);
    }
  }

  /** Loads the /xview backfill; `toMs` is the `to` it was asked for. Binned answers (more
   *  than max_points in 10 minutes) are left out: the live tail fills in from now on. */
  backfillXView(res: XViewResponse, toMs: number): void {
    if (res.binned || !res.points) return;
    this.points.clear();
    const p = res.points;
    // Responses are usually newest-first or unordered; the FIFO wants end-time order.
    const n = p.end_ms.length;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => p.end_ms[a]! - p.end_ms[b]!);
    for (let k = 0; k < n; k++) {
      const i = order[k]!;
      this.points.push(p.end_ms[i]!, p.elapsed_ms[i]!, !!p.error[i], p.id?.[i]);
      if (p.end_ms[i]! >= toMs - 15_000 && p.id?.[i]) this.recentIds.add(p.id[i]!);
    }
    this.backfillTo = toMs;
    if (toMs > this.nowMs) this.nowMs = toMs;
  }

  /** Merges one live frame. Returns the number of new X-View points. */
  merge(f: LiveFrame, localNow = Date.now()): number {
    if (f.type === 'points') return this.mergePoints(f);
    if (f.type !== 'tick') return 0;
    this.frames++;
    // tps/avg_ms/errors describe the last whole second, i.e. the bucket [t − 1 s, t).
    const bucket = f.t_ms - 1000;
    const count = f.tps;
    this.tps.put(bucket, count);
    this.rt.put(bucket, count > 0 ? f.avg_ms ?? null : null);
    this.errRate.put(bucket, count > 0 ? (100 * f.errors) / count : null);
    this.tiles = {
      todayCalls: f.today_calls,
      tps: f.tps,
      avgMs: count > 0 ? f.avg_ms ?? null : null,
      errorRate: count > 0 ? (100 * f.errors) / count : 0,
      users: f.concurrent_users,
    };
    if (f.t_ms > this.nowMs) this.nowMs = f.t_ms;
    this.skewMs = localNow - f.t_ms;
    const added = this.mergePoints(f);

    if (f.events && f.events.length) {
      const fresh = f.events.slice().sort((a, b) => b.time_ms - a.time_ms);
      this.events = fresh.concat(this.events);
      if (this.events.length > MAX_EVENTS) this.events.length = MAX_EVENTS;
    }
    return added;
  }

  /** Appends a frame's new X-View points (tick or points frame); returns how many. */
  private mergePoints(f: LiveFrame): number {
    this.pointsDropped += f.points_dropped ?? 0;
    let added = 0;
    if (f.points) {
      const recent = this.recentIds;
      const skip = recent.size > 0 ? (id: string) => recent.has(id) : undefined;
      added = this.points.appendColumns(f.points, skip);
      // Only the first frames after the backfill can repeat its points.
      if (f.t_ms > this.backfillTo + 15_000) this.recentIds.clear();
    }
    this.points.dropBefore(this.nowMs - LIVE_WINDOW_MS);
    return added;
  }

  /** The chart window's right edge at local time `localNow`. */
  windowEnd(localNow = Date.now()): number {
    return this.frames > 0 ? localNow - this.skewMs : localNow;
  }
}
