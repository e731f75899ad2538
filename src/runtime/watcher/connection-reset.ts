// Resets the connections whose route is not the current one (flipConnections=reset): one `conntrack -L` per
// family, then one `conntrack -D` per (destination, wrong reply source), a few at a time.
import type { Logger } from '../../log.js';
import type { Family } from '../../net/address.js';
import type { ConntrackExecutor } from '../conntrack/executor.js';
import { type ResetFilter, parseConntrackList, resetFilters } from '../conntrack/entries.js';
import type { Route } from '../routes.js';
import type { WatcherMetrics } from './metrics.js';

const PARALLEL = 4;

/** Entries deleted, or undefined when conntrack failed (the caller owes a retry; the rules are right anyway). */
export async function resetConnections(
  o: { conntrack: ConntrackExecutor; log: Logger; metrics: WatcherMetrics },
  routes: ReadonlyMap<Family, readonly Route[]>,
): Promise<number | undefined> {
  let deleted = 0;
  const filters: ResetFilter[] = [];
  try {
    for (const [family, list] of routes) {
      if (list.length === 0) continue;
      filters.push(...resetFilters(parseConntrackList(await o.conntrack.list(family)), list));
    }
    for (let i = 0; i < filters.length; i += PARALLEL) {
      const counts = await Promise.all(filters.slice(i, i + PARALLEL).map((f) => o.conntrack.reset(f)));
      deleted += counts.reduce((a, b) => a + b, 0);
    }
  } catch (err) {
    o.metrics.errors.inc({ type: 'conntrack' });
    o.log.error(`connection reset failed (new connections already take the new route; retried at the next verify): ${(err as Error).message}`);
    return undefined;
  }
  if (deleted > 0) {
    const destinations = [...new Set(filters.map((f) => `${f.origDst}:${f.dport}/${f.protocol}`))];
    o.log.info({ deleted, destinations: destinations.slice(0, 20) }, `reset ${deleted} connection(s) whose route changed`);
  }
  return deleted;
}
