// The map the watcher starts from: init's file (validated field by field: the volume is shared with the pod's other
// containers), or, when it is missing or unusable, a fresh discovery.
import { readFile } from 'node:fs/promises';
import type { RuntimeEnvConfig } from '../../config/index.js';
import type { Logger } from '../../log.js';
import { type DnatMap, parseDnatMap } from '../dnat-map.js';
import { type ServiceSource, discover } from '../program.js';
import type { WatcherMetrics } from './metrics.js';

export interface InitialMapOptions {
  config: RuntimeEnvConfig;
  lister: ServiceSource;
  log: Logger;
  metrics: WatcherMetrics;
  resolvConfPath: string;
}

export async function loadInitialMap(o: InitialMapOptions): Promise<{ map: DnatMap; fromFile: boolean } | undefined> {
  const path = o.config.dnatMapPath;
  try {
    const map = parseDnatMap(await readFile(path, 'utf8'), path);
    if (map.chain !== o.config.natChain) o.log.warn(`DNAT map ${path} names chain ${map.chain}, GW_NAT_CHAIN is ${o.config.natChain}; following the map`);
    return { map, fromFile: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') o.log.warn(`DNAT map ${path} is missing; rebuilding by discovery`);
    else {
      o.metrics.errors.inc({ type: 'map' });
      o.log.error(`${(err as Error).message}; rebuilding by discovery`);
    }
  }
  try {
    o.metrics.apiRequests.inc({ kind: 'list' });
    const plan = await discover(o.lister, o.config, o.log, { resolvConfPath: o.resolvConfPath });
    o.metrics.refreshes.inc({ result: 'ok' });
    return { map: plan.map, fromFile: false };
  } catch (err) {
    o.metrics.refreshes.inc({ result: 'error' });
    o.metrics.errors.inc({ type: 'refresh' });
    o.log.error(`rebuild by discovery (no usable map) failed: ${(err as Error).message}`);
    return undefined;
  }
}
