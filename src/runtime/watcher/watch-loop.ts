// The list+watch loop the watcher runs for its own Pod and for the namespace's Services, the way client-go's
// reflector does it: list (or get) once, then watch from that resourceVersion; a normal end of the stream (the
// server's timeout) re-watches from the last resourceVersion without a list; 410 Gone (expired resourceVersion)
// lists again; any other error backs off exponentially. No polling while the watch is healthy.
import { ApiError, type WatchEvent, type WatchOptions } from '../../k8s/lite/objects.js';
import type { Logger } from '../../log.js';
import { Backoff } from '../../util/backoff.js';
import { sleep } from '../../util/sleep.js';
import type { WatcherMetrics } from './metrics.js';

export interface Listed<T> {
  items: T[];
  resourceVersion: string | undefined;
}

export interface WatchLoopSpec<T> {
  /** What is watched, for logs ("pod shop/orders-1", "services in shop"). */
  what: string;
  list: (signal: AbortSignal) => Promise<Listed<T>>;
  watch: (opts: WatchOptions<T>) => Promise<{ events: number }>;
  /** A fresh list (at start, after 410 Gone); `arrival` is when its answer arrived (hrtime). */
  onList: (listed: Listed<T>, arrival: bigint) => void;
  onEvent: (event: WatchEvent<T>, arrival: bigint) => void;
  /** The watch is established (the server answered 200). */
  onUp: () => void;
  /** The list or watch failed (reason), or the loop ended (undefined). */
  onDown: (reason: string | undefined) => void;
  /** Counts requests by kind, and errors by type. */
  count: (what: 'list' | 'watch' | 'list_error' | 'watch_error') => void;
  log: Logger;
  /** Server-side watch timeout; default: random 300-600 s, like client-go. */
  timeoutSeconds?: number | undefined;
  backoff?: Backoff;
}

/** The `count` of a loop: requests under the given kinds of ghostwire_api_requests_total, errors by API call. */
export function requestCounter(metrics: WatcherMetrics, kinds: { list: string; watch: string }): WatchLoopSpec<unknown>['count'] {
  return (what) => {
    if (what === 'list' || what === 'watch') metrics.apiRequests.inc({ kind: kinds[what] });
    else metrics.errors.inc({ type: what === 'list_error' ? 'api_get' : 'api_watch' });
  };
}

const resourceVersionOf = (o: unknown): string | undefined => (o as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion;

/** Runs until `signal` aborts. */
export async function runWatchLoop<T>(spec: WatchLoopSpec<T>, signal: AbortSignal): Promise<void> {
  const backoff = spec.backoff ?? new Backoff();
  let rv: string | undefined;
  let listed = false;
  while (!signal.aborted) {
    if (!listed) {
      try {
        spec.count('list');
        const result = await spec.list(signal);
        const arrival = process.hrtime.bigint();
        rv = result.resourceVersion;
        listed = true;
        spec.onList(result, arrival);
      } catch (err) {
        if (signal.aborted) break;
        spec.count('list_error');
        spec.onDown(`list of ${spec.what} failed: ${(err as Error).message}`);
        await sleep(backoff.next(), signal);
        continue;
      }
    }
    const started = Date.now();
    const timeoutSeconds = spec.timeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
    try {
      spec.count('watch');
      const opts: WatchOptions<T> = {
        timeoutSeconds,
        idleTimeoutMs: (timeoutSeconds + 60) * 1000,
        signal,
        onOpen: () => {
          backoff.reset();
          spec.onUp();
        },
        onEvent: (ev) => {
          const arrival = process.hrtime.bigint();
          rv = resourceVersionOf(ev.object) ?? rv;
          if (ev.type !== 'BOOKMARK') spec.onEvent(ev, arrival);
        },
      };
      if (rv) opts.resourceVersion = rv;
      const { events } = await spec.watch(opts);
      if (signal.aborted) break;
      spec.log.debug({ events, seconds: Math.round((Date.now() - started) / 1000) }, `watch of ${spec.what} ended by the server; re-watching`);
      // A server that ends streams at once would make this a busy loop: back off unless it lasted a while.
      if (Date.now() - started < 1000 && events === 0) await sleep(backoff.next(), signal);
    } catch (err) {
      if (signal.aborted) break;
      if (err instanceof ApiError && err.status === 410) {
        spec.log.info({ status: 410 }, `watch of ${spec.what}: resourceVersion expired (${err.apiMessage ?? 'Gone'}); listing again`);
        listed = false;
        continue;
      }
      spec.count('watch_error');
      spec.onDown(`watch of ${spec.what} failed: ${(err as Error).message}`);
      await sleep(backoff.next(), signal);
    }
  }
  spec.onDown(undefined);
}
