// The live WebSocket (/api/v1/live): one JSON frame a second. Reconnects with capped
// exponential backoff; reports its state so the dashboard can show it.

import type { LiveFrame } from './types';

export type LiveStatus = 'connecting' | 'live' | 'stale' | 'reconnecting' | 'closed';

export class LiveSocket {
  private ws: WebSocket | null = null;
  private retryMs = 500;
  private retryTimer = 0;
  private staleTimer = 0;
  private stopped = false;
  status: LiveStatus = 'connecting';

  constructor(
    private readonly url: string,
    private readonly onFrame: (f: LiveFrame) => void,
    private readonly onStatus: (s: LiveStatus) => void,
  ) {
    this.open();
  }

  private set(s: LiveStatus): void {
    if (s === this.status) return;
    this.status = s;
    this.onStatus(s);
  }

  private open(): void {
    if (this.stopped) return;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.schedule();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.retryMs = 500;
      this.set('live');
      this.armStale();
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (typeof ev.data !== 'string') return;
      let f: LiveFrame;
      try {
        f = JSON.parse(ev.data) as LiveFrame;
      } catch {
        return;
      }
      this.set('live');
      this.armStale();
      this.onFrame(f);
    };
    ws.onclose = () => {
      this.ws = null;
      this.schedule();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private armStale(): void {
    window.clearTimeout(this.staleTimer);
    this.staleTimer = window.setTimeout(() => this.set('stale'), 4000);
  }

  private schedule(): void {
    window.clearTimeout(this.staleTimer);
    if (this.stopped) return;
    this.set('reconnecting');
    this.retryTimer = window.setTimeout(() => this.open(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 10_000);
  }

  close(): void {
    this.stopped = true;
    window.clearTimeout(this.retryTimer);
    window.clearTimeout(this.staleTimer);
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close();
      this.ws = null;
    }
    this.set('closed');
  }
}
