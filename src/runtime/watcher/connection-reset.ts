// Moves the connections whose route is not the current one (flipConnections=reset). First, without listing, what
// the change certainly made wrong, in two processes side by side: every TCP socket connected to a rerouted
// destination is closed (ss -K: the application and the old backend both see a reset) and the UDP flows to it are
// deleted from the connection-tracking table (no server keeps state for them). Then the table itself, per family:
// list it, close any TCP connection still on a wrong route at its socket, delete every wrong entry (one
// `conntrack -D` per destination and wrong reply source, or per reverse flow, all in one process), and look again:
// a packet that was on the wire while an entry was deleted can create a wrong entry anew (connections/entries.ts
// says which), so the check repeats until the table is clean, a few passes at most, and yields to newer work (a role
// flip) between passes; a table left unclean is owed a pass at the next apply.
import type { Logger } from '../../log.js';
import type { Family } from '../../net/address.js';
import type { ConntrackExecutor } from '../connections/conntrack.js';
import { type SocketTuple, parseConntrackList, rerouteFilters, rerouteSockets, resetFilters, wrongSockets } from '../connections/entries.js';
import type { SocketCloser } from '../connections/sockets.js';
import type { Reroute, Route } from '../routes.js';
import type { WatcherMetrics } from './metrics.js';

const PASSES = 3;

export interface ResetTools {
  conntrack: ConntrackExecutor;
  sockets: SocketCloser;
  log: Logger;
  metrics: WatcherMetrics;
}

export interface ResetOutcome {
  /** Connection-tracking entries deleted. */
  deleted: number;
  /** TCP sockets closed. */
  closed: number;
  /** Destinations touched, for the log line ("10.96.0.20:80/tcp"). */
  destinations: Set<string>;
  /** The last pass found nothing wrong (false: passes ran out or newer work came first). */
  clean: boolean;
}

/**
 * Closes sockets; a failure is counted and logged, not thrown: the entries are still deleted, so the connection moves
 * on its next packet (its old backend is not told).
 */
async function closeSockets(t: ResetTools, sockets: readonly SocketTuple[]): Promise<number> {
  if (sockets.length === 0) return 0;
  try {
    return await t.sockets.close(sockets);
  } catch (err) {
    t.metrics.errors.inc({ type: 'sockets' });
    t.log.warn(`closing sockets (${sockets.length} selector(s)) failed; their connection-tracking entries are deleted anyway: ${(err as Error).message}`);
    return 0;
  }
}

/** One look at the table: close the wrong sockets, delete the wrong entries. */
async function pass(t: ResetTools, routes: ReadonlyMap<Family, readonly Route[]>, out: ResetOutcome): Promise<boolean> {
  let found = false;
  for (const [family, list] of routes) {
    if (list.length === 0) continue;
    const entries = parseConntrackList(await t.conntrack.list(family));
    out.closed += await closeSockets(t, wrongSockets(entries, list));
    const filters = resetFilters(entries, list);
    found ||= filters.length > 0;
    out.deleted += await t.conntrack.reset(filters);
    for (const f of filters) out.destinations.add(f.kind === 'forward' ? `${f.origDst}:${f.dport}/${f.protocol}` : `${f.origSrc}:${f.sport}/${f.protocol} (reverse)`);
  }
  return found;
}

/** What was done, or undefined when conntrack failed (the caller owes a retry; the rules are right anyway). */
export async function resetConnections(
  t: ResetTools,
  routes: ReadonlyMap<Family, readonly Route[]>,
  rerouted: readonly Reroute[],
  /** Newer work waits (a role flip): stop after the current pass, that work checks the table again. */
  yieldTo: () => boolean = () => false,
): Promise<ResetOutcome | undefined> {
  const out: ResetOutcome = { deleted: 0, closed: 0, destinations: new Set(), clean: false };
  try {
    const first = rerouteFilters(rerouted);
    const [blind, closed] = await Promise.all([first.length > 0 ? t.conntrack.reset(first) : 0, closeSockets(t, rerouteSockets(rerouted))]);
    out.deleted += blind;
    out.closed += closed;
    for (const r of rerouted) out.destinations.add(`${r.activeIP}:${r.port}/${r.protocol.toLowerCase()}`);
    // The first pass always runs: it finds what the change made wrong that no selector above names.
    for (let i = 0; i < PASSES && (i === 0 || !yieldTo()); i++) {
      if (!(await pass(t, routes, out))) {
        out.clean = true;
        break;
      }
    }
  } catch (err) {
    t.metrics.errors.inc({ type: 'conntrack' });
    t.log.error(`connection reset failed (new connections already take the new route; retried at the next verify): ${(err as Error).message}`);
    return undefined;
  }
  if (out.deleted > 0 || out.closed > 0) {
    t.log.info({ deleted: out.deleted, closed: out.closed, destinations: [...out.destinations].slice(0, 20) }, `reset ${out.deleted} connection(s) whose route changed (${out.closed} closed at the socket)`);
  }
  return out;
}
