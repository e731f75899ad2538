// An in-memory connection-tracking table behind the ConntrackExecutor and SocketCloser interfaces: entries printed
// the way `conntrack -L -o extended` prints them, deletions applied the way `conntrack -D` filters them, and a socket
// closed the way `ss -K` closes it (the kernel then moves its entry to CLOSE).
import type { Family } from '../../src/net/address.js';
import type { ConntrackExecutor } from '../../src/runtime/connections/conntrack.js';
import type { ResetFilter, SocketTuple } from '../../src/runtime/connections/entries.js';
import type { SocketCloser } from '../../src/runtime/connections/sockets.js';

export interface FakeEntry {
  family: Family;
  protocol: 'tcp' | 'udp';
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** Where the reply comes from: dst when not NATed, the DNAT target otherwise. */
  replySrc: string;
  /** TCP state; ESTABLISHED when absent. */
  state?: string;
}

export interface FakeConntrack extends ConntrackExecutor, SocketCloser {
  entries: FakeEntry[];
  /** Every filter conntrack was given, in order (the blind batch after a change included). */
  resets: ResetFilter[];
  /** The filters that deleted at least one entry. */
  hits: ResetFilter[];
  lists: number;
  /** Every socket ss was asked to close. */
  closed: SocketTuple[];
  /** Make the next calls fail (a missing binary). */
  fail: boolean;
  /** A kernel without SOCK_DESTROY: ss closes nothing and says nothing. */
  noSockDestroy: boolean;
  /** ss itself fails (missing from the image). */
  failSockets: boolean;
  resetOne(filter: ResetFilter): number;
}

export function fakeConntrack(entries: FakeEntry[] = []): FakeConntrack {
  const ct: FakeConntrack = {
    entries,
    resets: [],
    hits: [],
    lists: 0,
    closed: [],
    fail: false,
    noSockDestroy: false,
    failSockets: false,
    async list(family) {
      ct.lists++;
      if (ct.fail) throw new Error('conntrack not found in PATH (test)');
      return ct.entries
        .filter((e) => e.family === family)
        .map((e) => `${e.family === 4 ? 'ipv4' : 'ipv6'}     ${e.family === 4 ? 2 : 10} ${e.protocol}      ${e.protocol === 'tcp' ? 6 : 17} 431999 ${e.protocol === 'tcp' ? `${e.state ?? 'ESTABLISHED'} ` : ''}src=${e.src} dst=${e.dst} sport=${e.sport} dport=${e.dport} src=${e.replySrc} dst=${e.src} sport=${e.dport} dport=${e.sport} [ASSURED] mark=0 use=1`)
        .join('\n');
    },
    async close(tuples) {
      ct.closed.push(...tuples);
      if (ct.fail || ct.failSockets) throw new Error('ss not found in PATH (test)');
      let n = 0;
      for (const t of tuples) {
        if (ct.noSockDestroy) continue;
        for (const e of ct.entries) {
          const mine = t.src === undefined || (e.src === t.src && e.sport === t.sport);
          if (e.protocol === 'tcp' && e.state !== 'CLOSE' && mine && e.dst === t.dst && e.dport === t.dport) {
            e.state = 'CLOSE';
            n++;
          }
        }
      }
      return n;
    },
    async reset(filters) {
      let n = 0;
      for (const f of filters) n += ct.resetOne(f);
      return n;
    },
    resetOne(f) {
      if (ct.fail) throw new Error('conntrack not found in PATH (test)');
      ct.resets.push(f);
      const match = (e: FakeEntry) =>
        e.family === f.family && e.protocol === f.protocol &&
        (f.kind === 'forward' ? e.dst === f.origDst && e.dport === f.dport && e.replySrc === f.replySrc : e.src === f.origSrc && e.sport === f.sport);
      const n = ct.entries.filter(match).length;
      ct.entries = ct.entries.filter((e) => !match(e));
      if (n > 0) ct.hits.push(f);
      return n;
    },
  };
  return ct;
}
