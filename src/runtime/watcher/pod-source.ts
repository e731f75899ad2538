// The watcher's label source: its own Pod, got once and then watched (fieldSelector metadata.name). Only while the
// watch is down does a GW_POLL_INTERVAL poll run (with exponential backoff on API errors), so a role flip is still
// seen when watches are broken but GETs work.
import type { PodLike, WatchOptions } from '../../k8s/lite/objects.js';
import type { Logger } from '../../log.js';
import { Backoff } from '../../util/backoff.js';
import type { WatcherMetrics } from './metrics.js';
import { requestCounter, runWatchLoop } from './watch-loop.js';

export interface PodApi {
  getPod(namespace: string, name: string, signal?: AbortSignal): Promise<PodLike>;
  watchPod(namespace: string, name: string, opts: WatchOptions<PodLike>): Promise<{ events: number }>;
}

export type PodVia = 'get' | 'watch' | 'poll';

export interface PodSourceOptions {
  api: PodApi;
  namespace: string;
  name: string;
  pollIntervalMs: number;
  watchTimeoutSeconds?: number | undefined;
  log: Logger;
  metrics: WatcherMetrics;
  onPod: (pod: PodLike, via: PodVia, arrival: bigint) => void;
  /** The watch went up (true) or down (false, with the reason). */
  onHealth?: (up: boolean, reason: string | undefined) => void;
}

export class PodSource {
  private readonly abort = new AbortController();
  private readonly pollBackoff = new Backoff();
  private pollTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  private up = false;

  constructor(private readonly o: PodSourceOptions) {}

  get watchIsUp(): boolean {
    return this.up;
  }

  start(): void {
    const { api, namespace, name, log, metrics } = this.o;
    this.loop = runWatchLoop<PodLike>(
      {
        what: `pod ${namespace}/${name}`,
        list: async (signal) => {
          const pod = await api.getPod(namespace, name, signal);
          return { items: [pod], resourceVersion: pod.metadata?.resourceVersion };
        },
        watch: (opts) => api.watchPod(namespace, name, opts),
        onList: (listed, arrival) => this.o.onPod(listed.items[0] as PodLike, 'get', arrival),
        onEvent: (ev, arrival) => {
          if (ev.type === 'DELETED') log.info('pod deleted; keeping the current routing until the container stops');
          else this.o.onPod(ev.object, 'watch', arrival);
        },
        onUp: () => this.setUp(),
        onDown: (reason) => this.setDown(reason),
        count: requestCounter(metrics, { list: 'get', watch: 'watch' }),
        log,
        timeoutSeconds: this.o.watchTimeoutSeconds,
      },
      this.abort.signal,
    );
  }

  async stop(): Promise<void> {
    this.abort.abort();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    await this.loop;
  }

  private setUp(): void {
    if (!this.up) this.o.log.info('pod watch established');
    const changed = !this.up;
    this.up = true;
    if (changed) this.o.onHealth?.(true, undefined);
    this.o.metrics.watchUp.set(1);
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  private setDown(reason: string | undefined): void {
    const { pollIntervalMs } = this.o;
    if (reason) this.o.log.warn({ pollInterval: pollIntervalMs }, `${reason}; polling every ${pollIntervalMs} ms until the watch is back`);
    this.up = false;
    this.o.metrics.watchUp.set(0);
    if (reason) this.o.onHealth?.(false, reason);
    if (this.pollTimer || this.abort.signal.aborted) return;
    this.pollTimer = setTimeout(() => void this.poll(), pollIntervalMs);
  }

  private async poll(): Promise<void> {
    const { api, namespace, name, pollIntervalMs, metrics, log } = this.o;
    this.pollTimer = undefined;
    if (this.up || this.abort.signal.aborted) return;
    let delay = pollIntervalMs;
    try {
      metrics.apiRequests.inc({ kind: 'poll' });
      const pod = await api.getPod(namespace, name, this.abort.signal);
      const arrival = process.hrtime.bigint();
      if (!this.up && !this.abort.signal.aborted) this.o.onPod(pod, 'poll', arrival);
      this.pollBackoff.reset();
    } catch (err) {
      if (this.abort.signal.aborted) return;
      metrics.errors.inc({ type: 'api_get' });
      delay = Math.max(pollIntervalMs, this.pollBackoff.next());
      log.warn(`poll failed: ${(err as Error).message}; next try in ${Math.round(delay)} ms`);
    }
    if (!this.up && !this.abort.signal.aborted && !this.pollTimer) this.pollTimer = setTimeout(() => void this.poll(), delay);
  }
}
