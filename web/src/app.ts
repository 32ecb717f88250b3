// Application context shared by the pages: the API client, the route (URL state) and small
// caches. One App per signed-in session.

import { Api } from './api/client';
import type { Instance, InstanceCap, InstancesResponse } from './api/types';
import type { Route } from './data/urlstate';
import { formatHash } from './data/urlstate';

export interface PageHandle {
  el: HTMLElement;
  /** Called when only the URL parameters of the same page changed; return false to rebuild. */
  update?(route: Route): boolean;
  dispose(): void;
}

export const TOKEN_KEY = 'loupe.token';

export class App {
  route: Route;
  private instCache: { at: number; project: string; p: Promise<InstancesResponse> } | null = null;

  constructor(
    readonly api: Api,
    route: Route,
  ) {
    this.route = route;
  }

  get project(): string {
    return this.api.project;
  }

  /** Navigates to a page; params default to the current project only. */
  go(page: Route['page'], params: Record<string, string> = {}, id?: string): void {
    const r: Route = { page, params: { project: this.project, ...params } };
    if (id) r.id = id;
    window.location.hash = formatHash(r);
  }

  /** Merges params into the current route. `push` adds a history entry (default: replace). */
  setParams(patch: Record<string, string>, push = false): void {
    const params = { ...this.route.params, ...patch };
    for (const k of Object.keys(params)) if (params[k] === '') delete params[k];
    const r: Route = { ...this.route, params };
    const hash = formatHash(r);
    if (hash === window.location.hash) return;
    if (push) window.location.hash = hash;
    else {
      history.replaceState(null, '', hash);
      window.dispatchEvent(new HashChangeEvent('hashchange'));
    }
  }

  /** Hash for a page (for <a href>). */
  href(page: Route['page'], params: Record<string, string> = {}, id?: string): string {
    const r: Route = { page, params: { project: this.project, ...params } };
    if (id) r.id = id;
    return formatHash(r);
  }

  /** Instances of the project, cached for 15 s. */
  instances(): Promise<Instance[]> {
    return this.instancesResponse().then((r) => r.instances ?? []);
  }

  /** The project's instance cap (absent from servers that do not send it), cached with the instances. */
  instanceCap(): Promise<InstanceCap | undefined> {
    return this.instancesResponse().then((r) => r.cap);
  }

  private instancesResponse(): Promise<InstancesResponse> {
    const now = Date.now();
    if (!this.instCache || this.instCache.project !== this.project || now - this.instCache.at > 15_000) {
      const p = this.api.instances();
      this.instCache = { at: now, project: this.project, p };
      p.catch(() => {
        this.instCache = null;
      });
    }
    return this.instCache.p;
  }
}
