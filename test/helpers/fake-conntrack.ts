// An in-memory connection-tracking table behind the ConntrackExecutor interface: entries printed the way
// `conntrack -L -o extended` prints them, deletions applied the way `conntrack -D` filters them.
import type { Family } from '../../src/net/address.js';
import type { ConntrackExecutor } from '../../src/runtime/conntrack/executor.js';
import type { ResetFilter } from '../../src/runtime/conntrack/entries.js';

export interface FakeEntry {
  family: Family;
  protocol: 'tcp' | 'udp';
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** Where the reply comes from: dst when not NATed, the DNAT target otherwise. */
  replySrc: string;
}

export interface FakeConntrack extends ConntrackExecutor {
  entries: FakeEntry[];
  /** Every filter conntrack was given, in order (the blind batch after a change included). */
  resets: ResetFilter[];
  /** The filters that deleted at least one entry. */
  hits: ResetFilter[];
  lists: number;
  /** Make the next calls fail (a missing binary). */
  fail: boolean;
  resetOne(filter: ResetFilter): number;
}

export function fakeConntrack(entries: FakeEntry[] = []): FakeConntrack {
  const ct: FakeConntrack = {
    entries,
    resets: [],
    hits: [],
    lists: 0,
    fail: false,
    async list(family) {
      ct.lists++;
      if (ct.fail) throw new Error('conntrack not found in PATH (test)');
      return ct.entries
        .filter((e) => e.family === family)
        .map((e) => `${e.family === 4 ? 'ipv4' : 'ipv6'}     ${e.family === 4 ? 2 : 10} ${e.protocol}      ${e.protocol === 'tcp' ? 6 : 17} 431999 ${e.protocol === 'tcp' ? 'ESTABLISHED ' : ''}src=${e.src} dst=${e.dst} sport=${e.sport} dport=${e.dport} src=${e.replySrc} dst=${e.src} sport=${e.dport} dport=${e.sport} [ASSURED] mark=0 use=1`)
        .join('\n');
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
