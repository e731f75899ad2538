// A `ghostwire watch` process started in a network namespace, with its JSON log lines waited for by message.
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI } from '../test/helpers/paths.js';
import type { Netns } from '../test/helpers/netns.js';

export type LogLine = Record<string, unknown> & { msg: string; time: number | string };

export interface WatcherProcess {
  child: ChildProcess;
  pid: number;
  /** Resolves with the next log line whose message matches (lines before the call are not considered). */
  next(re: RegExp, timeoutMs?: number): Promise<LogLine>;
  /** Every log line matching, from now until the returned function is called. */
  collect(re: RegExp): () => LogLine[];
  stop(): Promise<void>;
}

export function startWatcher(ns: Netns, args: readonly string[], env: NodeJS.ProcessEnv): WatcherProcess {
  const child = ns.spawn(process.execPath, [CLI, 'watch', ...args], { env });
  const waiters: Array<{ re: RegExp; resolve: (l: LogLine) => void }> = [];
  const collectors = new Set<{ re: RegExp; lines: LogLine[] }>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    for (const c of collectors) if (c.re.test(line.msg)) c.lines.push(line);
    const i = waiters.findIndex((w) => w.re.test(line.msg));
    if (i !== -1) waiters.splice(i, 1)[0]?.resolve(line);
  });
  return {
    child,
    pid: child.pid as number,
    next: (re, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no watcher log line ${re} within ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ re, resolve: (l) => (clearTimeout(t), resolve(l)) });
      }),
    collect: (re) => {
      const c = { re, lines: [] as LogLine[] };
      collectors.add(c);
      return () => (collectors.delete(c), c.lines);
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** A log line's time as epoch milliseconds (pino writes epoch ms; ISO strings are accepted too). */
export function lineTime(line: LogLine): number {
  return typeof line.time === 'number' ? line.time : Date.parse(line.time);
}
