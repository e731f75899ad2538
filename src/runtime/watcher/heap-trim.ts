// Gives the watcher's heap back after start-up and after bursts of work. V8 collects garbage at every GC but keeps
// the freed pages resident in its page pool until a memory-reducing GC, and its memory reducer only schedules one
// after an old-generation GC, which a small, mostly idle watcher rarely reaches: after 60 role flips the watcher
// kept about 8 MB of private memory it no longer used, for good (measured on Node 24). So every few seconds this
// reads the resident set size (not V8's heap size: pooled pages no longer count there, but still cost the pod)
// less the young generation, which regrows to its full size (2 MB with --max-semi-space-size=1) within seconds of
// any GC, and when that grew by more than `slackBytes` since the last trim, runs one memory-reducing GC (tens of
// milliseconds at most, only after growth; growth a GC cannot give back raises the mark instead of causing a GC
// every time). It needs node's --expose-gc, which the injected containers set in NODE_OPTIONS; without it, it does
// nothing.
import { getHeapSpaceStatistics } from 'node:v8';

export interface HeapTrimOptions {
  intervalMs: number;
  slackBytes: number;
  /** How many first checks trim unconditionally (default 3). */
  settleChecks?: number;
  /** Default: the global gc() of --expose-gc. */
  gc?: NodeJS.GCFunction;
  /** Default: the process's resident set size less V8's young generation. */
  residentBytes?: () => number;
  onTrim?: (trim: { beforeBytes: number; afterBytes: number; ms: number }) => void;
}

export interface HeapTrim {
  /** False when there is no gc() to call: the trimmer is off. */
  readonly active: boolean;
  /** One check now (the timer calls it); true when it trimmed. */
  check(): boolean;
  stop(): void;
}

export function startHeapTrim(opts: HeapTrimOptions): HeapTrim {
  const gc = opts.gc ?? globalThis.gc;
  const resident = opts.residentBytes ?? residentOutsideYoungGeneration;
  let floor = 0;
  // The first checks trim whatever the size: start-up leaves garbage, and code that ran once (imports, set-up) gives
  // its bytecode back only after it sat unused through a few GCs.
  let settling = opts.settleChecks ?? 3;
  const check = (): boolean => {
    if (!gc) return false;
    const beforeBytes = resident();
    if (settling > 0) settling--;
    else if (beforeBytes <= floor + opts.slackBytes) return false;
    const started = performance.now();
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    const afterBytes = resident();
    floor = afterBytes;
    opts.onTrim?.({ beforeBytes, afterBytes, ms: performance.now() - started });
    return true;
  };
  const timer = gc ? setInterval(check, opts.intervalMs) : undefined;
  timer?.unref();
  return { active: gc !== undefined, check, stop: () => clearInterval(timer) };
}

function residentOutsideYoungGeneration(): number {
  const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.physical_space_size ?? 0;
  return process.memoryUsage.rss() - young;
}
