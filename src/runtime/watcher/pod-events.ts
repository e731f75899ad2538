// Events on the watcher's own Pod, for `kubectl describe pod`: role flips, rule reprograms, connections reset, the
// API unreachable and back. Aggregated like the API server's own Events: one Event per reason, its count and
// message updated (at most one write per reason every few seconds), so a storm of Service changes is one Event
// with a count, not hundreds. Writes that fail (the API is down) are retried with the next one; nothing queues up.
import { type Reporter, eventObject } from '../../kube/event.js';
import type { Logger } from '../../log.js';
import type { WatcherMetrics } from './metrics.js';

export interface EventApi {
  createEvent<T extends { metadata: { namespace: string } }>(event: T): Promise<{ metadata: { name: string } }>;
  patchEvent(namespace: string, name: string, patch: unknown): Promise<unknown>;
}

export type PodEventReason = 'GhostwireRoleChanged' | 'GhostwireRulesReprogrammed' | 'GhostwireConnectionsReset' | 'GhostwireApiUnreachable' | 'GhostwireApiRecovered';

interface Aggregate {
  type: 'Normal' | 'Warning';
  message: string;
  count: number;
  first: Date;
  last: Date;
  /** The stored Event, once created. */
  name?: string;
  written: number;
  dirty: boolean;
  timer?: NodeJS.Timeout;
}

export interface PodEventOptions {
  api: EventApi;
  reporter: Reporter;
  log: Logger;
  metrics: WatcherMetrics;
  /** Occurrences within this window update one Event; after it a new Event starts. */
  windowMs?: number;
  /** At most one write per reason per this interval. */
  throttleMs?: number;
}

export class PodEventRecorder {
  private pod: { namespace: string; name: string; uid: string } | undefined;
  private readonly aggregates = new Map<PodEventReason, Aggregate>();
  private stopped = false;
  private forbiddenLogged = false;
  private readonly windowMs: number;
  private readonly throttleMs: number;

  constructor(private readonly o: PodEventOptions) {
    this.windowMs = o.windowMs ?? 10 * 60_000;
    this.throttleMs = o.throttleMs ?? 5000;
  }

  /** The Pod the Events are about (its uid comes with the first get or watch event). */
  setPod(pod: { namespace: string; name: string; uid: string }): void {
    const first = this.pod === undefined;
    this.pod = pod;
    if (first) for (const reason of this.aggregates.keys()) this.schedule(reason);
  }

  record(reason: PodEventReason, type: 'Normal' | 'Warning', message: string): void {
    if (this.stopped) return;
    const now = new Date();
    const a = this.aggregates.get(reason);
    if (a && now.getTime() - a.first.getTime() < this.windowMs) {
      Object.assign(a, { type, message, count: a.count + 1, last: now, dirty: true });
    } else {
      if (a?.timer) clearTimeout(a.timer);
      this.aggregates.set(reason, { type, message, count: 1, first: now, last: now, written: 0, dirty: true });
    }
    this.schedule(reason);
  }

  stop(): void {
    this.stopped = true;
    for (const a of this.aggregates.values()) clearTimeout(a.timer);
  }

  private schedule(reason: PodEventReason): void {
    const a = this.aggregates.get(reason);
    if (!a || a.timer || !a.dirty || !this.pod || this.stopped) return;
    const wait = Math.max(0, a.written + this.throttleMs - Date.now());
    a.timer = setTimeout(() => {
      a.timer = undefined;
      void this.write(reason, a);
    }, wait);
    a.timer.unref();
  }

  private async write(reason: PodEventReason, a: Aggregate): Promise<void> {
    const pod = this.pod;
    if (!pod || this.stopped || !a.dirty) return;
    a.dirty = false;
    a.written = Date.now();
    const message = a.count > 1 ? `${a.message} (${a.count} times since ${a.first.toISOString()})` : a.message;
    try {
      if (a.name) {
        await this.o.api.patchEvent(pod.namespace, a.name, { count: a.count, lastTimestamp: a.last.toISOString(), message, type: a.type });
      } else {
        const ev = eventObject({ type: a.type, reason, message, regarding: { apiVersion: 'v1', kind: 'Pod', ...pod } }, this.o.reporter, a.first, a.count);
        ev.lastTimestamp = a.last;
        a.name = (await this.o.api.createEvent(ev)).metadata.name;
      }
    } catch (err) {
      const status = (err as { status?: number }).status;
      this.o.metrics.errors.inc({ type: 'events' });
      if (status === 403) {
        // No RBAC for Events: retrying cannot help; say so once and drop this one.
        if (!this.forbiddenLogged) this.o.log.warn(`events on the pod cannot be recorded (${(err as Error).message}); grant events create and patch in the namespace`);
        this.forbiddenLogged = true;
        return;
      }
      // An aggregated Event the API server expired (or someone deleted) is written anew.
      if (status === 404) a.name = undefined;
      a.dirty = true;
      this.o.log.debug({ reason }, `event not recorded yet: ${(err as Error).message}`);
    }
    this.schedule(reason);
  }
}
