// Runs Debian's `conntrack` (conntrack-tools) with execFile and fixed argument arrays, never a shell, inside the
// pod's own network namespace (connection-tracking tables are per namespace).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Family } from '../../net/address.js';
import { type ResetFilter, deleteArgs } from './entries.js';

export interface ConntrackExecutor {
  /** `conntrack -L -f ipv4|ipv6 -o extended`. */
  list(family: Family): Promise<string>;
  /**
   * Every filter's `conntrack -D` in ONE process (`conntrack -R FILE`, one command per line); resolves with the
   * number of entries deleted (0 when they were gone already).
   */
  reset(filters: readonly ResetFilter[]): Promise<number>;
}

export class ConntrackError extends Error {
  override name = 'ConntrackError';
}

function run(args: readonly string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile('conntrack', [...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
      if (e.code === 'ENOENT') return reject(new ConntrackError('conntrack not found in PATH (the image must ship conntrack-tools)'));
      if (e.killed) return reject(new ConntrackError(`conntrack ${args.join(' ')} killed after ${timeoutMs} ms`));
      resolve({ code: typeof e.code === 'number' ? e.code : 1, stdout, stderr });
    });
  });
}

/**
 * `scratchDir`: a directory the process may write (the containers' root file system is read-only: the shared
 * volume). The batch goes through a file because conntrack opens its input by path, and a child's stdin from Node is
 * a socket, which /dev/stdin cannot open.
 */
export function createConntrackExecutor(opts: { scratchDir: string; timeoutMs?: number }): ConntrackExecutor {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return {
    list: async (family) => {
      const r = await run(['-L', '-f', family === 4 ? 'ipv4' : 'ipv6', '-o', 'extended'], timeoutMs);
      // An empty table exits 0; "0 flow entries" is a summary on stderr either way.
      if (r.code !== 0) throw new ConntrackError(`conntrack -L failed (exit ${r.code}): ${r.stderr.trim().split('\n').join('; ')}`);
      return r.stdout;
    },
    reset: async (filters) => {
      if (filters.length === 0) return 0;
      const file = join(opts.scratchDir, `.ghostwire-conntrack-${process.pid}-${randomBytes(4).toString('hex')}`);
      await writeFile(file, filters.map((f) => `${deleteArgs(f).join(' ')}\n`).join(''), { mode: 0o600, flag: 'wx' });
      let r;
      try {
        r = await run(['-R', file], timeoutMs);
      } finally {
        await unlink(file).catch(() => undefined);
      }
      if (r.code !== 0) throw new ConntrackError(`conntrack -R (${filters.length} deletions) failed (exit ${r.code}): ${r.stderr.trim().split('\n').join('; ')}`);
      // In a batch, conntrack prints each deleted entry on a line of its own; a command matching nothing is fine.
      return r.stdout.split('\n').filter((l) => l.trim() !== '').length;
    },
  };
}
