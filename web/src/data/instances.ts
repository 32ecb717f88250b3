// Instance figures of the dashboard: the project's instance cap (GET /api/v1/instances `cap`)
// and whether an instance reports active services at all (GET /api/v1/active `reported`).

import type { ActiveInstance, InstanceCap } from '../api/types';
import { fmtInt } from './format';

/** "9,876 of 20,000 instances", plus the overflow note when instances were folded. */
export function capText(cap: InstanceCap | undefined): { text: string; overflow: string } | null {
  if (!cap || !(cap.max_instances > 0)) return null;
  const text = fmtInt(cap.instances) + ' of ' + fmtInt(cap.max_instances) + ' instances';
  const overflow =
    cap.overflowed > 0
      ? fmtInt(cap.overflowed) + (cap.overflowed === 1 ? ' instance' : ' instances') + ' over the cap, filed under (overflow)'
      : '';
  return { text, overflow };
}

/**
 * Whether the active-service count of an instance is known: it sends active snapshots.
 * An instance missing from /api/v1/active, or listed with `reported: false` (a plain
 * OpenTelemetry SDK), is "not reported" — never "0 active".
 */
export function isReported(a: ActiveInstance | undefined): boolean {
  return a != null && a.reported !== false;
}
