// What one injected pod costs its node over time (proc.ts reads one sample: RSS, private, anonymous): windows of
// samples and the resident peak (VmHWM). Most of the resident set is the Node binary's file pages, which every
// container started from the same image layer shares: the private figure is the per-pod cost. Also: how the bench
// starts the in-pod programs as a pod does, with in-cluster service-account credentials and the NODE_OPTIONS the
// injector sets.
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { type Memory, formatMemory, memoryOf } from './proc.js';

export type Launch = (argv: string[]) => { cmd: string; args: string[] };

/** VmHWM: the highest resident set size since the process started, MB. */
export function peakRssOf(pid: number): number {
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024;
}

export interface Window {
  median: Memory;
  max: Memory;
  samples: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Samples every `everyMs` from `fromMs` to `toMs` after now; the median and the maximum of each figure. */
export async function sampleWindow(pid: number, fromMs: number, toMs: number, everyMs = 2_000): Promise<Window> {
  const start = Date.now();
  await sleep(fromMs);
  const samples: Memory[] = [];
  while (Date.now() - start <= toMs) {
    samples.push(memoryOf(pid));
    await sleep(everyMs);
  }
  const pick = (f: (v: number[]) => number): Memory => ({ rss: f(samples.map((s) => s.rss)), private: f(samples.map((s) => s.private)), anon: f(samples.map((s) => s.anon)) });
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] as number;
  return { median: pick(median), max: pick((v) => Math.max(...v)), samples: samples.length };
}

export const mb = (n: number): string => n.toFixed(1);
export const fmtWindow = (w: Window): string =>
  `median ${formatMemory(w.median)}; max private ${mb(w.max.private)} MB, RSS ${mb(w.max.rss)} MB (${w.samples} samples)`;

/**
 * The NODE_OPTIONS the injected containers get from the build under test (its inject/render.js), or none for a build
 * that sets none: the bench measures what the injector would deploy.
 */
export async function injectedNodeOptions(cli: string): Promise<{ init?: string; watch?: string }> {
  const render = join(dirname(cli), 'inject', 'render.js');
  if (!existsSync(render)) return {};
  const mod = (await import(pathToFileURL(render).href)) as { NODE_OPTIONS?: { init?: string; watch?: string } };
  return mod.NODE_OPTIONS ?? {};
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Runs a command with in-cluster credentials, as in a pod: KUBERNETES_SERVICE_HOST/PORT and the service-account
 * token and CA under /var/run/secrets, mounted in a private mount namespace (a tmpfs over /run, seen by nobody
 * else). Needs root, unshare and /var/run -> /run; otherwise undefined and the caller uses a kubeconfig (which also
 * loads the YAML parser, a few MB that a pod does not pay).
 */
export function inClusterLauncher(dir: string, token: string, caPem: string): Launch | undefined {
  const hasUnshare = spawnSync('sh', ['-c', 'command -v unshare'], { stdio: 'ignore' }).status === 0;
  if (!hasUnshare || process.getuid?.() !== 0 || realpathSync('/var/run') !== '/run') return undefined;
  const sa = join(dir, 'serviceaccount');
  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, 'token'), token);
  writeFileSync(join(sa, 'ca.crt'), caPem);
  const script = `mount -t tmpfs -o size=1m tmpfs /run && mkdir -p ${SA_DIR} && cp ${sa}/token ${sa}/ca.crt ${SA_DIR}/ && exec "$@"`;
  return (argv) => ({ cmd: 'unshare', args: ['--mount', 'sh', '-c', script, 'sh', ...argv] });
}
