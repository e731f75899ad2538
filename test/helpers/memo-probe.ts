// Run with `node --expose-gc memo-probe.js SCENARIO`: sends a stream of admissions through mutate() with one memo,
// then prints, as one JSON line, the heap the memo keeps alive (after full GCs) next to what it accounts for.
import { createMutationMemo, type MemoLimits } from '../../src/admission/memo.js';
import { mutate } from '../../src/admission/mutate.js';
import { parseAdmissionReview } from '../../src/admission/review.js';
import { builtinDefaults, parseDefaults } from '../../src/config/index.js';

export interface ProbeResult {
  scenario: string;
  requests: number;
  /** Heap kept alive by the memo: heapUsed after GC with the memo, minus after GC once the same requests ran without. */
  retainedBytes: number;
  estimatedBytes: number;
  caches: Record<string, { entries: number; bytes: number }>;
  limits: MemoLimits;
}

type Annotations = Record<string, string>;

/** Annotation sets an attacker (or a busy cluster) sends, one distinct set per request index. */
export const SCENARIOS: Record<string, (i: number) => Annotations> = {
  // A short valid value with 200 KB of trailing spaces: trim() returns a slice that would pin all of it.
  'trailing-spaces': (i) => ({ 'ghostwire.dev/roleLabelKey': `example.com/role-${i}${' '.repeat(200_000)}` }),
  // A long valid list: large configs, large rendered env, large patches.
  'many-cidrs': (i) => ({ 'ghostwire.dev/excludeCidrs': Array.from({ length: 4000 }, (_, j) => `10.${i & 255}.${j >> 8}.${j & 255}/32`).join(',') }),
  // Invalid values are kept in the config's findings (warn mode).
  'invalid-values': (i) => ({ 'ghostwire.dev/natChain': `${i}-${'!'.repeat(100_000)}`, 'ghostwire.dev/image': `${'a'.repeat(100_000)}-${i}!` }),
  // Thousands of unknown keys per request.
  'unknown-keys': (i) => Object.fromEntries(Array.from({ length: 5000 }, (_, j) => [`ghostwire.dev/k${i}-${j}`, 'v'])),
  // What a real cluster sends: one small distinct config per workload.
  typical: (i) => ({ 'ghostwire.dev/excludeCidrs': `10.${i >> 8}.${i & 255}.0/24` }),
};

function review(i: number, annotations: Annotations): string {
  const object = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `web-${i}`, namespace: 'shop', annotations: { 'ghostwire.dev/enabled': 'true', ...annotations } },
    spec: { template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 8080 }] }] } } },
  };
  const request = { uid: `u-${i}`, kind: { group: 'apps', version: 'v1', kind: 'Deployment' }, namespace: 'shop', name: object.metadata.name, operation: 'CREATE', object };
  return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });
}

const gc = (): void => {
  for (let i = 0; i < 4; i++) (globalThis as unknown as { gc: () => void }).gc();
};

export function probe(scenario: string, requests: number, limits: MemoLimits): ProbeResult {
  const annotations = SCENARIOS[scenario];
  if (!annotations) throw new Error(`unknown scenario ${scenario}`);
  const defaults = parseDefaults('invalidAnnotations: warn\n', 'probe').defaults ?? builtinDefaults();
  const run = (memo: ReturnType<typeof createMutationMemo> | undefined) => {
    const ctx = { defaults, version: '0.1.0', tunnelKey: 'probe-tunnel-key-0123456789', memo };
    for (let i = 0; i < requests; i++) mutate(parseAdmissionReview(JSON.parse(review(i, annotations(i)))), ctx);
  };
  // The same requests without a memo first: code, inline caches and V8's tables reach their size before the baseline.
  run(undefined);
  gc();
  const before = process.memoryUsage().heapUsed;
  const memo = createMutationMemo(limits);
  run(memo);
  gc();
  const retainedBytes = process.memoryUsage().heapUsed - before;
  const caches = Object.fromEntries(Object.entries(memo).map(([name, cache]) => [name, cache.size]));
  const estimatedBytes = Object.values(caches).reduce((n, c) => n + c.bytes, 0);
  return { scenario, requests, retainedBytes, estimatedBytes, caches, limits };
}

if (process.argv[1]?.endsWith('memo-probe.js') && process.argv[2]) {
  const [scenario, requests, entries, bytes] = process.argv.slice(2);
  process.stdout.write(`${JSON.stringify(probe(scenario as string, Number(requests), { entries: Number(entries), bytes: Number(bytes) }))}\n`);
}
