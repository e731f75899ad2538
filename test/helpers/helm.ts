// Finding the helm binaries for chart tests. Helm 3 and Helm 4 are both supported, so the chart is checked with both:
// $HELM4 (or $HELM) / $HELM3, then the e2e tool cache (test/e2e/tools/build-tools.sh writes env-<k8s version>.sh
// there), then `helm` on PATH if it is the right major version. Every candidate must report that major version.
// In CI a missing helm is a failure; on a laptop the chart tests skip and say why.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { readToolsEnv, selectedK8sVersion, toolVersions, toolsEnvFile } from './tools.js';

// The tool cache directory lives in tools.ts; other finders (promtool.ts) import it from here.
export { toolsCacheDir } from './tools.js';

export type HelmMajor = 3 | 4;

export interface Helm {
  major: HelmMajor;
  path: string;
  /** `helm version --short`, e.g. v4.3.1+g... */
  version: string;
}

const versionCache = new Map<string, string>();

function versionOf(path: string): string {
  let v = versionCache.get(path);
  if (v === undefined) {
    const r = spawnSync(path, ['version', '--short'], { encoding: 'utf8' });
    v = r.status === 0 ? r.stdout.trim() : '';
    versionCache.set(path, v);
  }
  return v;
}

/** The helm binary of one major version, and where it looked. A binary of the wrong major version is an error. */
export function findHelm(major: HelmMajor = 4): { helm?: Helm; looked: string[] } {
  const looked: string[] = [];
  const accept = (path: string, source: string, strict: boolean): Helm | undefined => {
    looked.push(source);
    if (!existsSync(path)) return undefined;
    const version = versionOf(path);
    if (version.startsWith(`v${major}.`)) return { major, path, version };
    if (strict) throw new Error(`${source}: ${path} reports "${version.slice(0, 40)}", expected helm ${major} (v${major}.x)`);
    return undefined;
  };
  const envVar = major === 4 ? (process.env.HELM4 ? 'HELM4' : 'HELM') : 'HELM3';
  const fromEnv = process.env[envVar];
  if (fromEnv) {
    const hit = accept(fromEnv, `$${envVar}=${fromEnv}`, true);
    if (hit) return { helm: hit, looked };
  }
  // helm does not depend on the Kubernetes release: the selected release's env file, then the default one.
  const files = [...new Set([toolsEnvFile(selectedK8sVersion()), toolsEnvFile(toolVersions().K8S_VERSION)])];
  for (const file of files) {
    const p = readToolsEnv(file)[`HELM${major}`];
    if (p) {
      const hit = accept(p, `${file} (HELM${major})`, true);
      if (hit) return { helm: hit, looked };
    } else looked.push(file);
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const hit = accept(join(dir, 'helm'), `PATH (${dir}/helm)`, false);
    if (hit) return { helm: hit, looked };
  }
  looked.push('PATH');
  return { looked };
}

const announced = new Set<HelmMajor>();

interface SkipContext {
  skip: (message?: string) => void;
}

function missing(t: SkipContext, major: HelmMajor, looked: string[]): undefined {
  const message = `helm ${major} not found (looked at ${looked.join(', ')}); run test/e2e/tools/build-tools.sh helm${major} or set HELM${major}=/path/to/helm`;
  if (process.env.CI) throw new Error(`chart tests need helm ${major} in CI: ${message}`);
  if (!announced.has(major)) process.stderr.write(`# skipping the tests that need helm ${major}: ${message}\n`);
  announced.add(major);
  t.skip(message);
  return undefined;
}

/**
 * The helm binary (Helm 4 unless asked otherwise), or undefined after skipping the test (locally). In CI
 * (process.env.CI set) a missing helm throws: the chart must be checked there.
 */
export function helmOrSkip(t: SkipContext, major: HelmMajor = 4): string | undefined {
  const { helm, looked } = findHelm(major);
  return helm ? helm.path : missing(t, major, looked);
}

/** Helm 3 and Helm 4, for checks that must hold with both; undefined (test skipped) unless both are found. */
export function bothHelmsOrSkip(t: SkipContext): Helm[] | undefined {
  const out: Helm[] = [];
  for (const major of [3, 4] as const) {
    const { helm, looked } = findHelm(major);
    if (!helm) return missing(t, major, looked);
    out.push(helm);
  }
  return out;
}

export interface HelmRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runHelm(helm: string, args: string[]): HelmRun {
  const r = spawnSync(helm, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: any;
}

export function parseManifests(text: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`invalid YAML from helm: ${doc.errors[0]?.message}`);
    const v = doc.toJS() as K8sObject | null;
    if (v) out.push(v);
  }
  return out;
}
