// The Prometheus text exposition format, read back: only the samples of the metric names asked for, with their
// labels. The text comes from a pod through the API server's proxy, so it is untrusted: lines, labels and values
// are bounded, and anything malformed is skipped rather than trusted.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const MAX_LINES = 50_000;
const MAX_LINE = 4096;
const MAX_LABELS = 16;
const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

/** Samples of the wanted metric names (exact names, e.g. ghostwire_jump_state or ghostwire_errors_total). */
export function parseSamples(text: string, wanted: ReadonlySet<string>): Sample[] {
  const out: Sample[] = [];
  let start = 0;
  for (let n = 0; n < MAX_LINES && start < text.length; n++) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, Math.min(end, start + MAX_LINE));
    start = end + 1;
    if (line === '' || line.startsWith('#')) continue;
    const name = NAME.exec(line)?.[0];
    if (name === undefined || !wanted.has(name)) continue;
    const sample = parseLine(line, name);
    if (sample) out.push(sample);
  }
  return out;
}

function parseLine(line: string, name: string): Sample | undefined {
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    const parsed = parseLabels(line, i + 1);
    if (!parsed) return undefined;
    Object.assign(labels, parsed.labels);
    i = parsed.end;
  }
  const rest = line.slice(i).trim().split(/\s+/);
  const value = parseValue(rest[0] ?? '');
  return value === undefined ? undefined : { name, labels, value };
}

function parseLabels(line: string, from: number): { labels: Record<string, string>; end: number } | undefined {
  const labels: Record<string, string> = Object.create(null) as Record<string, string>;
  let i = from;
  for (let count = 0; ; count++) {
    while (line[i] === ' ' || line[i] === ',') i++;
    if (line[i] === '}') return { labels: { ...labels }, end: i + 1 };
    if (count >= MAX_LABELS) return undefined;
    const key = NAME.exec(line.slice(i))?.[0];
    if (!key || line[i + key.length] !== '=' || line[i + key.length + 1] !== '"') return undefined;
    i += key.length + 2;
    let value = '';
    for (; i < line.length && line[i] !== '"'; i++) {
      if (line[i] === '\\') {
        i++;
        value += line[i] === 'n' ? '\n' : (line[i] ?? '');
      } else value += line[i];
    }
    if (line[i] !== '"') return undefined;
    i++;
    labels[key] = value;
  }
}

function parseValue(text: string): number | undefined {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return undefined;
  return Number(text);
}

/** The value of the one sample of `name` whose labels include `match` (first one), or undefined. */
export function sampleValue(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))?.value;
}

/** The sum over every finite sample of `name`. */
export function sampleSum(samples: readonly Sample[], name: string): number {
  return samples.filter((s) => s.name === name && Number.isFinite(s.value)).reduce((a, s) => a + s.value, 0);
}
