// The watcher's Service source: every Service of the discovery namespace, listed once and then watched (resume from
// the resourceVersion, list again on 410 Gone, back off on errors; no polling while the watch is healthy). Keeps
// the current set in memory and says when it changed; deciding whether the change matters is the route keeper's.
import type { ServiceObject, WatchOptions } from '../../k8s/lite/objects.js';
import type { Logger } from '../../log.js';
import type { WatcherMetrics } from './metrics.js';
import { type Listed, requestCounter, runWatchLoop } from './watch-loop.js';

export interface ServiceApi {
  listServicesAt(namespace: string, signal?: AbortSignal): Promise<Listed<ServiceObject>>;
  watchServices(namespace: string, opts: WatchOptions<ServiceObject>): Promise<{ events: number }>;
}

export interface ServiceSourceOptions {
  api: ServiceApi;
  namespace: string;
  watchTimeoutSeconds?: number | undefined;
  log: Logger;
  metrics: WatcherMetrics;
  /** The set changed (`names`: the Services the change was about; a list names none); `arrival` is hrtime. */
  onChange: (names: readonly string[], arrival: bigint) => void;
  /** The watch went up (true) or down (false). */
  onHealth?: (up: boolean, reason: string | undefined) => void;
}

export class ServiceSource {
  private readonly abort = new AbortController();
  private readonly services = new Map<string, ServiceObject>();
  private loop: Promise<void> | undefined;
  private up = false;
  private listedOnce = false;

  constructor(private readonly o: ServiceSourceOptions) {}

  /** Whether a list has arrived: until then the set is unknown (not empty). */
  get listed(): boolean {
    return this.listedOnce;
  }

  get watchIsUp(): boolean {
    return this.up;
  }

  /** The current Services, in name order. */
  snapshot(): ServiceObject[] {
    return [...this.services.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
  }

  start(): void {
    const { api, namespace, log, metrics } = this.o;
    this.loop = runWatchLoop<ServiceObject>(
      {
        what: `services in ${namespace}`,
        list: (signal) => api.listServicesAt(namespace, signal),
        watch: (opts) => api.watchServices(namespace, opts),
        onList: (listed, arrival) => {
          this.services.clear();
          for (const s of listed.items) if (s.metadata?.name) this.services.set(s.metadata.name, s);
          this.listedOnce = true;
          this.o.onChange([], arrival);
        },
        onEvent: (ev, arrival) => {
          const name = ev.object?.metadata?.name;
          if (!name) return;
          if (ev.type === 'DELETED') this.services.delete(name);
          else this.services.set(name, ev.object);
          this.o.onChange([name], arrival);
        },
        onUp: () => this.setHealth(true, undefined),
        onDown: (reason) => this.setHealth(false, reason),
        count: requestCounter(metrics, { list: 'services_list', watch: 'services_watch' }),
        log,
        timeoutSeconds: this.o.watchTimeoutSeconds,
      },
      this.abort.signal,
    );
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private setHealth(up: boolean, reason: string | undefined): void {
    if (up && !this.up) this.o.log.info(`service watch established (${this.o.namespace})`);
    if (!up && reason) this.o.log.warn(`${reason}; the last known Services stay in force`);
    const changed = up !== this.up;
    this.up = up;
    this.o.metrics.serviceWatchUp.set(up ? 1 : 0);
    if (changed || reason) this.o.onHealth?.(up, reason);
  }
}
