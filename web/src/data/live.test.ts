import { describe, expect, it } from 'vitest';
import { LiveState, LIVE_WINDOW_MS } from './live';
import type { LiveFrame } from '../api/types';

function frame(t: number, extra: Partial<LiveFrame> = {}): LiveFrame {
  return { type: 'tick', t_ms: t, tps: 10, avg_ms: 20, errors: 1, today_calls: 100, concurrent_users: 3, ...extra };
}

describe('LiveState', () => {
  it('puts a frame in the bucket of the second it describes', () => {
    const s = new LiveState();
    s.merge(frame(1_700_000_001_000), 1_700_000_001_200);
    expect(s.tps.get(1_700_000_000_000)).toBe(10);
    expect(s.rt.get(1_700_000_000_000)).toBe(20);
    expect(s.errRate.get(1_700_000_000_000)).toBe(10);
    expect(s.tiles).toEqual({ todayCalls: 100, tps: 10, avgMs: 20, errorRate: 10, users: 3 });
    expect(s.skewMs).toBe(200);
  });

  it('records an idle second as zero TPS and gaps for response time and error rate', () => {
    const s = new LiveState();
    s.merge(frame(5000, { tps: 0, avg_ms: 0, errors: 0 }));
    expect(s.tps.get(4000)).toBe(0);
    expect(s.rt.get(4000)).toBeNaN();
    expect(s.errRate.get(4000)).toBeNaN();
  });

  it('backfills series and lets live frames overwrite the same second', () => {
    const s = new LiveState();
    s.backfillSeries(s.tps, { metric: 'tps', from_ms: 0, step_ms: 1000, series: [{ key: 'all', values: [1, null, 3] }] });
    expect(s.tps.get(0)).toBe(1);
    expect(s.tps.get(1000)).toBeNaN();
    s.merge(frame(3000, { tps: 9 }));
    expect(s.tps.get(2000)).toBe(9);
  });

  it('drops X-View points the backfill already had and slides the window', () => {
    const s = new LiveState();
    const to = 1_000_000;
    s.backfillXView(
      { total: 2, binned: false, points: { id: ['b', 'a'], end_ms: [to - 10, to - LIVE_WINDOW_MS + 500], elapsed_ms: [5, 6], error: [0, 1] } },
      to,
    );
    expect(s.points.length).toBe(2);
    expect(s.points.ids[s.points.head]).toBe('a'); // sorted by end time
    const added = s.merge(frame(to + 1000, { points: { id: ['b', 'c'], end_ms: [to - 10, to + 900], elapsed_ms: [5, 7], error: [0, 1] } }));
    expect(added).toBe(1);
    expect(s.points.length).toBe(2); // 'a' slid out of the 10-minute window
  });

  it('keeps the newest events first and caps the feed', () => {
    const s = new LiveState();
    for (let i = 0; i < 150; i++) {
      s.merge(frame(1000 * (i + 1), {
        events: [
          { time_ms: i * 10, level: 'WARNING', type: 'SERVICE_EXCEPTION', message: 'm' + i, tx_id: '', service: 's', endpoint: 'e' },
          { time_ms: i * 10 + 5, level: 'WARNING', type: 'SERVICE_EXCEPTION', message: 'n' + i, tx_id: '', service: 's', endpoint: 'e' },
        ],
      }));
    }
    expect(s.events.length).toBe(200);
    expect(s.events[0]!.message).toBe('n149');
    expect(s.events[1]!.message).toBe('m149');
  });

  it('follows the server clock once frames arrive', () => {
    const s = new LiveState();
    expect(s.windowEnd(5000)).toBe(5000);
    s.merge(frame(10_000), 10_250);
    expect(s.windowEnd(11_250)).toBe(11_000);
  });

  it('ignores frames of other types', () => {
    const s = new LiveState();
    expect(s.merge({ ...frame(1000), type: 'hello' })).toBe(0);
    expect(s.frames).toBe(0);
  });

  it('adds the dots of points frames between ticks without touching the per-second figures', () => {
    const s = new LiveState();
    s.merge(frame(1_700_000_001_000), 1_700_000_001_100);
    const added = s.merge({
      type: 'points', t_ms: 1_700_000_001_250, tps: 0, avg_ms: null, errors: 0, today_calls: 0,
      concurrent_users: 0,
      points: { id: ['a1', 'a2'], end_ms: [1_700_000_001_100, 1_700_000_001_200], elapsed_ms: [5, 7], error: [0, 1] },
    } as LiveFrame);
    expect(added).toBe(2);
    expect(s.frames).toBe(1);
    expect(s.tps.get(1_700_000_000_000)).toBe(10);
    expect(s.tiles.tps).toBe(10);
  });
});
