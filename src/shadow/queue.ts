// The shadow controller's work queue: one reconcile at a time per workload (deduplicated), bounded concurrency,
// retries with exponential backoff, and abort of a running attempt when the workload's inputs change.
import { ANNOTATION_PREFIX, TUNNEL_STATUS_ANNOTATION } from '../config/options.js';
import { type ShadowLog, type Workload, errorMessage } from './api.js';
import { Backoff } from '../util/backoff.js';
import { collectContainerPorts } from './ports.js';
import type { ShadowReconciler } from './reconciler.js';

export interface WorkQueueOptions {
  reconciler: Pick<ShadowReconciler, 'reconcile'>;
  /** The workload as currently known (informer cache); undefined when it is gone. */
  lookup: (key: string) => Workload | undefined;
  log: ShadowLog;
  concurrency?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

interface KeyState {
  running?: { controller: AbortController; fingerprint: string };
  /** An event arrived while running. */
  dirty: boolean;
  /** ...and it changed the workload's inputs (not just our own status write). */
  changed: boolean;
  /** Retries of this key: its delay doubles with every failure in a row (no jitter: one key, one timer). */
  backoff: Backoff;
  timer?: ReturnType<typeof setTimeout>;
  /** The last attempt failed with these inputs; permanent: it is not retried until they change. */
  failed?: { fingerprint: string; permanent: boolean };
}

/**
 * Inputs that can change what a reconcile does: identity, deletion, the ghostwire.dev/ annotations on the object and
 * on its pod template, and the ports the pod template declares (what the reconciler reads). Our own status
 * annotation and other controllers' annotations (the Deployment controller's revision) are left out, so they never
 * abort a running attempt. metadata.generation is left out too: the API server bumps a Deployment's generation on
 * every annotation change (annotations are copied to its ReplicaSets), our own status write included.
 */
export function workloadFingerprint(w: Workload | undefined): string {
  if (!w) return 'gone';
  const ours = (annotations: Record<string, string> | undefined): Array<[string, string]> =>
    Object.entries(annotations ?? {})
      .filter(([k]) => k.startsWith(ANNOTATION_PREFIX) && k !== TUNNEL_STATUS_ANNOTATION)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const template = w.spec?.template;
  return JSON.stringify([
    w.metadata.uid,
    Boolean(w.metadata.deletionTimestamp),
    ours(w.metadata.annotations),
    ours(template?.metadata?.annotations),
    collectContainerPorts(template?.spec),
  ]);
}

export class ShadowWorkQueue {
  private readonly states = new Map<string, KeyState>();
  private readonly queue: string[] = [];
  private active = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  private readonly concurrency: number;

  constructor(private readonly options: WorkQueueOptions) {
    this.concurrency = Math.max(1, options.concurrency ?? 4);
  }

  /** Something about this workload (or one of its shadow objects) changed. */
  enqueue(key: string): void {
    if (this.stopped) return;
    const state = this.state(key);
    const fingerprint = workloadFingerprint(this.options.lookup(key));
    if (state.running) {
      state.dirty = true;
      // A newer spec makes the running attempt (and its wait) pointless.
      if (fingerprint !== state.running.fingerprint) {
        state.changed = true;
        state.running.controller.abort();
      }
      return;
    }
    // After a failed attempt, an event that changed none of its inputs (our own status write, the deletions of its
    // cleanup, a resync) waits for the backoff retry, or, after a permanent failure, for the workload to change.
    // Otherwise every failure would wake its own retry at once.
    if (state.failed?.fingerprint === fingerprint && (state.timer || state.failed.permanent)) return;
    if (state.timer) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    if (!this.queue.includes(key)) this.queue.push(key);
    this.pump();
  }

  /** Resolves when nothing is queued or running (retry timers may still be pending). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Retry timers currently pending (for tests and metrics). */
  pendingRetries(): number {
    return [...this.states.values()].filter((s) => s.timer !== undefined).length;
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.states.values()) {
      if (s.timer) clearTimeout(s.timer);
      s.running?.controller.abort();
    }
    this.queue.length = 0;
  }

  private state(key: string): KeyState {
    let s = this.states.get(key);
    if (!s) {
      s = { dirty: false, changed: false, backoff: new Backoff(this.options.backoffBaseMs ?? 1000, this.options.backoffMaxMs ?? 300_000, () => 1) };
      this.states.set(key, s);
    }
    return s;
  }

  private pump(): void {
    while (!this.stopped && this.active < this.concurrency && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.active++;
      void this.run(key).finally(() => {
        this.active--;
        this.pump();
        if (this.queue.length === 0 && this.active === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of waiters) w();
        }
      });
    }
  }

  private scheduleRetry(key: string, state: KeyState, why: string): void {
    const delay = state.backoff.next();
    this.options.log.warn({ workload: key, retryInMs: delay, failures: state.backoff.failures }, `will retry: ${why}`);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      this.enqueue(key);
    }, delay);
  }

  private async run(key: string): Promise<void> {
    const state = this.state(key);
    const workload = this.options.lookup(key);
    if (!workload) {
      state.backoff.reset();
      state.failed = undefined;
      return;
    }
    const controller = new AbortController();
    const fingerprint = workloadFingerprint(workload);
    state.running = { controller, fingerprint };
    state.dirty = false;
    state.changed = false;
    // Reconcile a copy: the reconciler updates annotations in place as it writes them.
    const copy: Workload = { ...workload, metadata: { ...workload.metadata, annotations: { ...(workload.metadata.annotations ?? {}) } } };
    try {
      const outcome = await this.options.reconciler.reconcile(copy, controller.signal);
      if (outcome.state === 'Failed') state.failed = { fingerprint, permanent: !outcome.retry };
      else if (outcome.state !== 'Aborted') state.failed = undefined;
      if (outcome.state === 'Failed' && outcome.retry) this.scheduleRetry(key, state, outcome.reason);
      else if (outcome.state !== 'Aborted') state.backoff.reset();
    } catch (err) {
      // Status write failures and unexpected API errors: never swallowed, retried with backoff.
      this.options.log.error({ workload: key }, `reconcile error: ${errorMessage(err)}`);
      state.failed = { fingerprint, permanent: false };
      this.scheduleRetry(key, state, errorMessage(err));
    } finally {
      state.running = undefined;
    }
    if (this.stopped || !state.dirty) return;
    // New inputs run now, even over a pending retry or a permanent failure; other events (our own status write,
    // shadow pods moving) run once more, unless the attempt failed: then the backoff retry (or, for a permanent
    // failure, the next change) comes first.
    if (state.changed && state.timer) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    if (state.changed || (!state.timer && !state.failed?.permanent)) {
      state.dirty = false;
      state.changed = false;
      if (!this.queue.includes(key)) this.queue.push(key);
    }
  }
}
