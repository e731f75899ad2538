// Resets the connections whose route is not the current one (flipConnections=reset). First, in one conntrack
// process, what the change certainly made wrong (entries still going where a rerouted destination went before).
// Then the table itself: list it per family, delete every wrong entry (one `conntrack -D` per destination and wrong
// reply source, or per reverse flow, all in one process), and look again: a packet that was on the wire while an
// entry was deleted can create a wrong entry anew (conntrack/entries.ts says which), so the check repeats until the
// table is clean, a few passes at most, and yields to newer work (a role flip) between passes.
import type { Logger } from '../../log.js';
import type { Family } from '../../net/address.js';
import type { ConntrackExecutor } from '../conntrack/executor.js';
import { type ResetFilter, parseConntrackList, rerouteFilters, resetFilters } from '../conntrack/entries.js';
import type { Reroute, Route } from '../routes.js';
import type { WatcherMetrics } from './metrics.js';

const PASSES = 3;

async function pass(ct: ConntrackExecutor, routes: ReadonlyMap<Family, readonly Route[]>): Promise<{ deleted: number; filters: ResetFilter[] }> {
  const filters: ResetFilter[] = [];
  for (const [family, list] of routes) {
    if (list.length > 0) filters.push(...resetFilters(parseConntrackList(await ct.list(family)), list));
  }
  return { deleted: await ct.reset(filters), filters };
}

/** Entries deleted, or undefined when conntrack failed (the caller owes a retry; the rules are right anyway). */
export async function resetConnections(
  o: { conntrack: ConntrackExecutor; log: Logger; metrics: WatcherMetrics },
  routes: ReadonlyMap<Family, readonly Route[]>,
  rerouted: readonly Reroute[],
  /** Newer work waits (a role flip): stop after the current pass, that work checks the table again. */
  yieldTo: () => boolean = () => false,
): Promise<number | undefined> {
  let deleted = 0;
  const destinations = new Set<string>();
  try {
    // First what the change certainly made wrong, without listing: one process right after the rules changed.
    const first = rerouteFilters(rerouted);
    if (first.length > 0) deleted += await o.conntrack.reset(first);
    for (const r of rerouted) destinations.add(`${r.activeIP}:${r.port}/${r.protocol.toLowerCase()}`);
    for (let i = 0; i < PASSES && !yieldTo(); i++) {
      const p = await pass(o.conntrack, routes);
      deleted += p.deleted;
      for (const f of p.filters) destinations.add(f.kind === 'forward' ? `${f.origDst}:${f.dport}/${f.protocol}` : `${f.origSrc}:${f.sport}/${f.protocol} (reverse)`);
      if (p.filters.length === 0 || yieldTo()) break;
    }
  } catch (err) {
    o.metrics.errors.inc({ type: 'conntrack' });
    o.log.error(`connection reset failed (new connections already take the new route; retried at the next verify): ${(err as Error).message}`);
    return undefined;
  }
  if (deleted > 0) o.log.info({ deleted, destinations: [...destinations].slice(0, 20) }, `reset ${deleted} connection(s) whose route changed`);
  return deleted;
}
