// Informers that heal themselves: a failed list/watch is restarted after a delay, and stopping cancels that
// pending restart (a stopped informer is never started again behind the caller's back).
import type { Informer, KubernetesObject } from '@kubernetes/client-node';
import { describeApiError } from './api-errors.js';

export interface RestartLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const INFORMER_RESTART_MS = 5000;

export interface Supervised {
  start: () => Promise<void>;
  stop: () => Promise<void>;
}

export function supervise<T extends KubernetesObject>(informer: Informer<T>, what: string, log: RestartLog, restartMs = INFORMER_RESTART_MS): Supervised {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  informer.on('error', (err: unknown) => {
    if (stopped) return;
    log.warn({ what }, `watch of ${what} failed (${describeApiError(err)}); restarting in ${restartMs} ms`);
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (!stopped) informer.start().catch((e: unknown) => log.error({ what }, `restart of the ${what} watch failed: ${describeApiError(e)}`));
    }, restartMs);
    timer.unref();
  });
  return {
    start: () => informer.start(),
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await informer.stop();
    },
  };
}
