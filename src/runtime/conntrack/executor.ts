// Runs Debian's `conntrack` (conntrack-tools) with execFile and fixed argument arrays, never a shell, inside the
// pod's own network namespace (connection-tracking tables are per namespace).
import { execFile } from 'node:child_process';
import type { Family } from '../../net/address.js';
import { type ResetFilter, deleteArgs } from './entries.js';

export interface ConntrackExecutor {
  /** `conntrack -L -f ipv4|ipv6 -o extended`. */
  list(family: Family): Promise<string>;
  /** One `conntrack -D ...`; resolves with the number of entries deleted (0 when they were gone already). */
  reset(filter: ResetFilter): Promise<number>;
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

const DELETED = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/;

export function createConntrackExecutor(opts: { timeoutMs?: number } = {}): ConntrackExecutor {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return {
    list: async (family) => {
      const r = await run(['-L', '-f', family === 4 ? 'ipv4' : 'ipv6', '-o', 'extended'], timeoutMs);
      // An empty table exits 0; "0 flow entries" is a summary on stderr either way.
      if (r.code !== 0) throw new ConntrackError(`conntrack -L failed (exit ${r.code}): ${r.stderr.trim().split('\n').join('; ')}`);
      return r.stdout;
    },
    reset: async (filter) => {
      const args = deleteArgs(filter);
      const r = await run(args, timeoutMs);
      const m = DELETED.exec(r.stderr);
      // conntrack exits 1 when nothing matched: the connections closed meanwhile, which is success here.
      if (m) return Number(m[1]);
      if (r.code === 0) return 0;
      throw new ConntrackError(`conntrack ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim().split('\n').join('; ')}`);
    },
  };
}
