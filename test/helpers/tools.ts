// Where the e2e tools are: the versions test/e2e/tools/versions.env names, the Kubernetes release that
// GHOSTWIRE_K8S_VERSION selects (one of the wrapper modules under test/e2e/tools/modules/), and the
// env-<version>.sh that test/e2e/tools/build-tools.sh writes into the tool cache. Shared by the e2e harness and
// the unit-tier chart tests (which only need helm).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { repoPath } from './paths.js';

export interface ToolVersions {
  /** The Kubernetes release CI runs and build-tools.sh builds by default. */
  K8S_VERSION: string;
  /** The oldest supported Kubernetes release (GHOSTWIRE_K8S_VERSION=<it> runs the suite against it). */
  K8S_OLDEST: string;
  HELM3_VERSION: string;
  HELM4_VERSION: string;
  ROLLOUTS_VERSION: string;
}

const VERSION_KEYS = ['K8S_VERSION', 'K8S_OLDEST', 'HELM3_VERSION', 'HELM4_VERSION', 'ROLLOUTS_VERSION'] as const;
const TOOLS_DIR = repoPath('test', 'e2e', 'tools');
const clip = (s: string) => (s.length > 40 ? `${s.slice(0, 40)}...` : s);

/** test/e2e/tools/versions.env, the one place the tool versions are written. */
export function toolVersions(file = join(TOOLS_DIR, 'versions.env')): ToolVersions {
  const out: Record<string, string> = {};
  readFileSync(file, 'utf8').split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^([A-Z0-9_]+)=(v\d+\.\d+\.\d+)$/.exec(line);
    if (!m) throw new Error(`${file}:${i + 1}: expected KEY=vX.Y.Z, got "${clip(line)}"`);
    out[m[1] as string] = m[2] as string;
  });
  for (const k of VERSION_KEYS) if (!out[k]) throw new Error(`${file} does not set ${k}`);
  return out as unknown as ToolVersions;
}

/** The Kubernetes releases that have a wrapper module (test/e2e/tools/modules/kubernetes-<version>), oldest first. */
export function buildableK8sVersions(): string[] {
  const num = (v: string) => v.slice(1).split('.').map(Number) as [number, number, number];
  return readdirSync(join(TOOLS_DIR, 'modules'))
    .filter((d) => /^kubernetes-v\d+\.\d+\.\d+$/.test(d))
    .map((d) => d.slice('kubernetes-'.length))
    .sort((a, b) => {
      const [x, y] = [num(a), num(b)];
      return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
    });
}

/** GHOSTWIRE_K8S_VERSION when set (checked against the wrapper modules), else versions.env's K8S_VERSION. */
export function selectedK8sVersion(env: NodeJS.ProcessEnv = process.env): string {
  const wanted = env.GHOSTWIRE_K8S_VERSION;
  if (wanted === undefined || wanted === '') return toolVersions().K8S_VERSION;
  const allowed = buildableK8sVersions();
  if (!allowed.includes(wanted)) {
    throw new Error(`GHOSTWIRE_K8S_VERSION: "${clip(wanted)}" is not a Kubernetes release the e2e tools can build; allowed: ${allowed.join(', ')}`);
  }
  return wanted;
}

export function toolsCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.GHOSTWIRE_TOOLS_CACHE || join(homedir(), '.cache', 'ghostwire-tools');
}

/** The file build-tools.sh writes for one Kubernetes release: `export NAME=<path>` lines. */
export function toolsEnvFile(version = selectedK8sVersion()): string {
  return join(toolsCacheDir(), `env-${version}.sh`);
}

/**
 * The variables of an env-<version>.sh (empty when it does not exist yet). Values are written with bash's
 * printf %q, so a backslash escapes the next character; $'...' quoting (control characters in a path) is refused.
 */
export function readToolsEnv(file = toolsEnvFile()): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(file)) return out;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    const raw = m[2] as string;
    if (raw.startsWith("$'")) throw new Error(`${file}: ${m[1]} has a path with control characters; move GHOSTWIRE_TOOLS_CACHE to a plain path`);
    out[m[1] as string] = raw.replace(/\\(.)/g, '$1');
  }
  return out;
}
