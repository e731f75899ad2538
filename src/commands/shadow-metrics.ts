// The shadow controller's metrics endpoint: ghostwire_workload_config_stale from its informer caches, judged by the
// same drift function as `ghostwire status` with the defaults and tunnel key the controller already holds.
import type http from 'node:http';
import { createMutationMemo } from '../admission/memo.js';
import type { Defaults } from '../config/index.js';
import type { KubeObject } from '../kube/objects.js';
import type { Logger } from '../log.js';
import { parseListen } from '../runtime/watcher/health-server.js';
import { controllerRegistry, serveMetrics } from '../server/controller-metrics.js';
import type { DriftContext } from '../status/drift.js';
import { StaleSeriesCache } from '../status/stale-series.js';
import { VERSION } from '../version.js';
import { UsageError } from './flags.js';

export interface StaleSource {
  workloads: () => readonly object[];
  defaults: () => Defaults;
}

/** --metrics-listen: HOST:PORT, :PORT, [V6]:PORT or unix:/path; "off" (the default outside the chart) serves nothing. */
export function metricsListen(value: string | undefined) {
  if (value === undefined || value === 'off') return undefined;
  const at = parseListen(value);
  if (!at) throw new UsageError(`--metrics-listen: ${JSON.stringify(value.slice(0, 80))} is not allowed; allowed: HOST:PORT, :PORT, [V6]:PORT, unix:/path or off`);
  return at;
}

export async function startStaleMetrics(source: StaleSource, at: NonNullable<ReturnType<typeof metricsListen>>, o: { tunnelKey: string; ownNamespace: string | undefined; log: Logger }): Promise<http.Server> {
  const cache = new StaleSeriesCache();
  // One context (and memo) per defaults version, as the webhook keeps them.
  let ctx: { defaults: Defaults; drift: DriftContext } | undefined;
  const drift = (): DriftContext => {
    const defaults = source.defaults();
    if (ctx?.defaults !== defaults) {
      ctx = { defaults, drift: { defaults, version: VERSION, tunnelKey: o.tunnelKey, tunnelKeyKnown: true, ownNamespace: o.ownNamespace, memo: createMutationMemo() } };
    }
    return ctx.drift;
  };
  const registry = controllerRegistry(() => cache.series(source.workloads() as KubeObject[], drift()));
  const { server, address } = await serveMetrics(registry, at);
  o.log.info({ address }, `metrics listening on ${address}`);
  return server;
}
