// What a process costs, read from /proc: resident memory split into private (this process alone: anonymous memory,
// V8's heap) and shared (mostly the file-backed node binary, paid once per node for every process using it), and
// CPU time.
import { readFileSync } from 'node:fs';

export interface Memory {
  /** VmRSS, MB. */
  rss: number;
  /** Private_Clean + Private_Dirty of smaps_rollup, MB: what the process alone keeps resident. */
  private: number;
  /** Anonymous memory, MB (heap, stacks; never shared with another node process). */
  anon: number;
}

export function memoryOf(pid: number): Memory {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kb('Rss') / 1024, private: (kb('Private_Clean') + kb('Private_Dirty')) / 1024, anon: kb('Anonymous') / 1024 };
}

export function formatMemory(m: Memory): string {
  return `RSS ${m.rss.toFixed(1)} MB, private ${m.private.toFixed(1)} MB, anonymous ${m.anon.toFixed(1)} MB`;
}

/** User + system CPU seconds the process has used (clock ticks of 1/100 s on Linux). */
export function cpuSecondsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The p-th percentile (nearest rank) of the values. */
export function pct(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
}

export function summarize(values: readonly number[], unit = 'ms'): string {
  return `p50 ${pct(values, 50).toFixed(1)} ${unit}  p99 ${pct(values, 99).toFixed(1)} ${unit}  max ${Math.max(...values).toFixed(1)} ${unit}  (n=${values.length})`;
}
