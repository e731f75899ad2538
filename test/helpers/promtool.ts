// Finding promtool for the alert rule tests: $PROMTOOL, then the copy .ci/run extracts from Debian's prometheus
// package into the e2e tool cache, then PATH. In CI a missing promtool is a failure; on a laptop the rule tests
// skip and say why (as helm.ts does for helm).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { toolsCacheDir } from './helm.js';

export function findPromtool(): { path?: string; looked: string[] } {
  const looked: string[] = [];
  if (process.env.PROMTOOL) {
    looked.push(`$PROMTOOL=${process.env.PROMTOOL}`);
    if (existsSync(process.env.PROMTOOL)) return { path: process.env.PROMTOOL, looked };
  }
  const cached = join(toolsCacheDir(), 'promtool-debian', 'bin', 'promtool');
  looked.push(cached);
  if (existsSync(cached)) return { path: cached, looked };
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, 'promtool');
    if (existsSync(p)) return { path: p, looked: [...looked, 'PATH'] };
  }
  looked.push('PATH');
  return { looked };
}

let announced = false;

/**
 * The promtool binary, or undefined after skipping the test (locally). In CI (process.env.CI set) a missing
 * promtool throws: the alert rules must be checked there.
 */
export function promtoolOrSkip(t: { skip: (message?: string) => void }): string | undefined {
  const { path, looked } = findPromtool();
  if (path) return path;
  const message = `promtool not found (looked at ${looked.join(', ')}); run .ci/run (it extracts promtool from Debian's prometheus package) or set PROMTOOL=/path/to/promtool`;
  if (process.env.CI) throw new Error(`alert rule tests need promtool in CI: ${message}`);
  if (!announced) process.stderr.write(`# skipping the tests that need promtool: ${message}\n`);
  announced = true;
  t.skip(message);
  return undefined;
}

export interface PromtoolRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runPromtool(promtool: string, args: string[]): PromtoolRun {
  const r = spawnSync(promtool, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
