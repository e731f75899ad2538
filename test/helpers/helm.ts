// Finding the helm binary for chart tests: $HELM, then the e2e tool cache (test/e2e/tools/build-tools.sh writes
// env.sh there), then PATH. In CI a missing helm is a failure; on a laptop the chart tests skip and say why.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export function toolsCacheDir(): string {
  return process.env.GHOSTWIRE_TOOLS_CACHE ?? join(homedir(), '.cache', 'ghostwire-tools');
}

export function findHelm(): { path?: string; looked: string[] } {
  const looked: string[] = [];
  if (process.env.HELM) {
    looked.push(`$HELM=${process.env.HELM}`);
    if (existsSync(process.env.HELM)) return { path: process.env.HELM, looked };
  }
  const envFile = join(toolsCacheDir(), 'env.sh');
  looked.push(envFile);
  if (existsSync(envFile)) {
    const m = /^export HELM=(.*)$/m.exec(readFileSync(envFile, 'utf8'));
    const p = m?.[1]?.trim().replace(/^"|"$/g, '');
    if (p && existsSync(p)) return { path: p, looked };
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, 'helm');
    if (existsSync(p)) return { path: p, looked: [...looked, 'PATH'] };
  }
  looked.push('PATH');
  return { looked };
}

let announced = false;

interface SkipContext {
  skip: (message?: string) => void;
}

/**
 * The helm binary, or undefined after skipping the test (locally). In CI (process.env.CI set) a missing helm
 * throws: the chart must be checked there.
 */
export function helmOrSkip(t: SkipContext): string | undefined {
  const { path, looked } = findHelm();
  if (path) return path;
  const message = `helm not found (looked at ${looked.join(', ')}); run test/e2e/tools/build-tools.sh helm or set HELM=/path/to/helm`;
  if (process.env.CI) throw new Error(`chart tests need helm in CI: ${message}`);
  if (!announced) process.stderr.write(`# skipping the tests that need helm: ${message}\n`);
  announced = true;
  t.skip(message);
  return undefined;
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
