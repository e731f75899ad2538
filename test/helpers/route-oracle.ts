// The oracle of a route-truth run: from the changes the test made (each with the time its API write completed) and
// the answers clients received, which answers came from the wrong backend once the change before them had settled.
// A change settles `bound` ms after it was made: 300 ms for a role flip, 1 s for a Service change.

export type Protocol = 'TCP' | 'UDP';

export interface Preview {
  ip: string;
  /** "80/TCP" ... */
  ports: ReadonlySet<string>;
}

export interface WorldState {
  role: 'active' | 'preview';
  /** Active Service name -> its ClusterIP. */
  actives: ReadonlyMap<string, string>;
  /** Active Service name -> its preview twin, when one exists. */
  previews: ReadonlyMap<string, Preview>;
}

export interface Change {
  t: number;
  kind: 'flip' | 'service';
  what: string;
  /** The state right after the change. */
  after: WorldState;
}

export interface Answer {
  t: number;
  dest: string;
  port: number;
  protocol: Protocol;
  kind: string;
  answer?: string;
  error?: string;
}

export const SETTLE_MS: Record<Change['kind'], number> = { flip: 300, service: 1000 };

/** "<name>@<ip>" of the server that should answer a connection to `dest`'s ClusterIP on this port. */
export function expectedAnswer(s: WorldState, dest: string, port: number, protocol: Protocol): string {
  const preview = s.previews.get(dest);
  if (s.role === 'preview' && preview && preview.ports.has(`${port}/${protocol}`)) return `${dest}-preview@${preview.ip}`;
  return `${dest}@${s.actives.get(dest) as string}`;
}

export interface Verdict {
  checked: number;
  unsettled: number;
  violations: Array<Answer & { expected: string; after: string }>;
  errorsWhileSettled: Answer[];
}

/**
 * Checks every answer received while no change was within its settle bound; `initial` is the state before the
 * first change, `changes` are in time order.
 */
export function judge(initial: WorldState, changes: readonly Change[], answers: readonly Answer[]): Verdict {
  const verdict: Verdict = { checked: 0, unsettled: 0, violations: [], errorsWhileSettled: [] };
  let i = 0;
  let state = initial;
  let settledAt = 0;
  let last = 'start';
  for (const a of [...answers].sort((x, y) => x.t - y.t)) {
    while (i < changes.length && (changes[i] as Change).t <= a.t) {
      const c = changes[i] as Change;
      state = c.after;
      settledAt = Math.max(settledAt, c.t + SETTLE_MS[c.kind]);
      last = c.what;
      i++;
    }
    if (a.t < settledAt) {
      verdict.unsettled++;
      continue;
    }
    if (a.answer === undefined) {
      verdict.errorsWhileSettled.push(a);
      continue;
    }
    verdict.checked++;
    const expected = expectedAnswer(state, a.dest, a.port, a.protocol);
    if (a.answer !== expected) verdict.violations.push({ ...a, expected, after: last });
  }
  return verdict;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same schedule. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
