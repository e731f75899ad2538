// Runs iptables-restore / iptables-save (and the ip6tables twins) with execFile: argument arrays, the payload on
// stdin, never a shell. Restores use --noflush (only the chains named in the payload change) and -w 5 (wait up to
// five seconds for the xtables lock instead of failing when another container holds it).
import { execFile } from 'node:child_process';
import type { Family } from '../../net/address.js';

export interface IptablesExecutor {
  /** `iptables-save -t nat` (or ip6tables-save) output. */
  save(family: Family): Promise<string>;
  /** `iptables-restore --noflush -w 5` with `payload` on stdin; one transaction. */
  restore(family: Family, payload: string): Promise<void>;
}

export const BINARIES: Readonly<Record<Family, { save: string; restore: string }>> = {
  4: { save: 'iptables-save', restore: 'iptables-restore' },
  6: { save: 'ip6tables-save', restore: 'ip6tables-restore' },
};

export const RESTORE_ARGS: readonly string[] = ['--noflush', '-w', '5'];
export const SAVE_ARGS: readonly string[] = ['-t', 'nat'];

export class IptablesError extends Error {
  constructor(
    message: string,
    readonly binary: string,
    readonly exitCode: number | string | null,
    readonly stderr: string,
  ) {
    super(message);
    this.name = 'IptablesError';
  }
}

/** Point at the payload line iptables-restore complained about ("line 6 failed", "Error occurred at line: 6"). */
export function explainRestoreFailure(stderr: string, payload: string): string {
  const m = /line:? (\d+)/.exec(stderr);
  const detail = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('Try `'))
    .join('; ');
  if (!m) return detail;
  const n = Number(m[1]);
  const line = payload.split('\n')[n - 1];
  return line === undefined ? detail : `${detail} [payload line ${n}: ${line}]`;
}

function run(binary: string, args: readonly string[], stdin: string | undefined, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(binary, [...args], { timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (!err) {
        resolve(stdout);
        return;
      }
      const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string };
      if (e.code === 'ENOENT') {
        reject(new IptablesError(`${binary} not found in PATH (the image must ship iptables${binary.startsWith('ip6') ? ' with IPv6 support' : ''})`, binary, 'ENOENT', ''));
        return;
      }
      const why = e.killed ? `killed after ${timeoutMs} ms` : `exit ${e.code ?? e.signal ?? 'unknown'}`;
      const detail = stdin !== undefined ? explainRestoreFailure(stderr, stdin) : stderr.trim().split('\n').join('; ');
      reject(new IptablesError(`${binary} ${args.join(' ')} failed (${why}): ${detail || 'no error output'}`, binary, e.code ?? null, stderr));
    });
    // The child may exit before reading stdin (bad flags): swallow EPIPE here, the exit status tells the story.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin ?? '');
  });
}

export function createExecutor(opts: { timeoutMs?: number } = {}): IptablesExecutor {
  // -w 5 bounds the lock wait; the process timeout only catches a wedged binary.
  const timeoutMs = opts.timeoutMs ?? 30_000;
  return {
    save: (family) => run(BINARIES[family].save, SAVE_ARGS, undefined, timeoutMs),
    restore: async (family, payload) => {
      await run(BINARIES[family].restore, RESTORE_ARGS, payload, timeoutMs);
    },
  };
}
