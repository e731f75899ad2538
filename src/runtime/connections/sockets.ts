// Closes the application's TCP sockets whose route changed, with `ss -K` (iproute2; the kernel's SOCK_DESTROY,
// CONFIG_INET_DIAG_DESTROY) inside the pod's network namespace, as Cilium does for connections to a removed backend.
// The application gets ECONNABORTED at once (an idle pooled connection is dropped before it is used) and the old
// backend a reset, so neither end keeps a half-open connection. execFile with a fixed argument array, never a shell;
// every address and port was parsed from conntrack's output. A kernel without SOCK_DESTROY closes nothing and says
// nothing (ss skips such sockets): the conntrack deletion that follows still moves the connection.
import { execFile } from 'node:child_process';
import type { SocketTuple } from './entries.js';

export interface SocketCloser {
  /** Closes every socket of the list in one `ss` process; resolves with how many were closed. */
  close(tuples: readonly SocketTuple[]): Promise<number>;
}

export class SocketCloseError extends Error {}

const endpoint = (family: 4 | 6, ip: string, port: number): string => (family === 6 ? `[${ip}]:${port}` : `${ip}:${port}`);

/** `ss -K -t -n -H ( dst B:q ) or ( src A:p and dst B:q ) or ...`: the filter as separate arguments, ss joins them. */
export function closeArgs(tuples: readonly SocketTuple[]): string[] {
  const args = ['-K', '-t', '-n', '-H'];
  tuples.forEach((t, i) => {
    if (i > 0) args.push('or');
    args.push('(');
    if (t.src !== undefined && t.sport !== undefined) args.push('src', endpoint(t.family, t.src, t.sport), 'and');
    args.push('dst', endpoint(t.family, t.dst, t.dport), ')');
  });
  return args;
}

/** Sockets per process: keeps the argument list bounded (3,000 filter terms take ss 70 ms here). */
const PER_PROCESS = 1000;

export function createSocketCloser(opts: { timeoutMs?: number } = {}): SocketCloser {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const once = (tuples: readonly SocketTuple[]): Promise<number> =>
    new Promise((resolve, reject) => {
      execFile('ss', closeArgs(tuples), { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          const why = code === 'ENOENT' ? 'ss not found in PATH (iproute2)' : `exit ${String(code)}: ${stderr.trim().split('\n').join('; ')}`;
          reject(new SocketCloseError(`ss -K (${tuples.length} sockets) failed: ${why}`));
          return;
        }
        // One line per socket closed; an error for one socket (closed meanwhile) is printed but is no failure.
        resolve(stdout.split('\n').filter((l) => l.trim() !== '').length);
      });
    });
  return {
    close: async (tuples) => {
      let closed = 0;
      for (let i = 0; i < tuples.length; i += PER_PROCESS) closed += await once(tuples.slice(i, i + PER_PROCESS));
      return closed;
    },
  };
}
