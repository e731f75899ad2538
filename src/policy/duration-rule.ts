// CEL for config/validate.ts durationValidator(): Go-style durations ("500ms", "1m30s"), summed in doubles exactly as
// parseDurationMs() sums them (Number(digits) * unit, left to right), rounded as Math.round() rounds, range-checked,
// and written back the way formatDuration() writes them. PURE.
import type { ValidatorRule } from '../config/validate.js';
import { type CelRule, type Fresh, bind, doubleLiteral, str, trimmed } from './cel.js';

type DurationRule = Extract<ValidatorRule, { kind: 'duration' }>;

const UNITS = [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const;

/** CEL: formatDuration(ms) for an int ms >= 0. */
export function formatDurationCel(ms: string, f: Fresh): string {
  return bind(f, ms, (v) => {
    let rest = v;
    const parts = UNITS.map(([unit, size], i) => {
      // Each component is what remains after the larger units, as formatDuration() subtracts them.
      const n = i === 0 ? `${v} / ${size}` : `(${rest}) / ${size}`;
      rest = `${v} % ${size}`;
      return `(${n} > 0 ? string(${n}) + '${unit}' : '')`;
    });
    return `(${v} == 0 ? '0s' : ${parts.join(' + ')})`;
  });
}

export function durationRule(rule: DurationRule, part: RegExp, unitMs: Readonly<Record<string, number>>, allowed: string): CelRule {
  const full = `^(?:${part.source})+$`;
  const units = `{${Object.entries(unitMs).map(([k, v]) => `${str(k)}: ${doubleLiteral(v)}`).join(', ')}}`;
  // The sum in doubles. A number Go cannot parse (over 300 digits before the point) is JavaScript's Infinity.
  const total = (t: string, f: Fresh) => {
    const p = f.next('p');
    return `${t}.findAll(${str(part.source)}).map(${p}, ${bind(f, `${p}.find('^[0-9]+(\\\\.[0-9]+)?')`, (n) =>
      `(${n}.matches('^0*[0-9]{0,300}(\\\\.|$)') ? double(${n}) * ${units}[${p}.substring(${n}.size())] : 1.0e308 * 10.0)`)}).sum()`;
  };
  // Math.round(total) lies within [min, max] exactly when total lies within [min - 0.5, max + 0.5).
  const inRange = (s: string) => `(${s} >= ${doubleLiteral(rule.minMs - 0.5)} && ${s} < ${doubleLiteral(rule.maxMs + 0.5)})`;
  const nonEmpty = (t: string, f: Fresh) => `(${t}.matches(${str(full)}) && ${bind(f, total(t, f), inRange)})`;
  const empty = (t: string) => (rule.allowEmpty ? `${t} == '' || ` : '');
  return {
    valid: (x, f) => bind(f, trimmed(x), (t) => `(${empty(t)}${nonEmpty(t, f)})`),
    text: (x, f) =>
      bind(f, trimmed(x), (t) => {
        // Math.round for a non-negative total: truncate, then up when the fraction is at least one half.
        const rounded = bind(f, total(t, f), (s) => `(int(${s}) + (${s} - double(int(${s})) >= 0.5 ? 1 : 0))`);
        return rule.allowEmpty ? `(${t} == '' ? '' : ${formatDurationCel(rounded, f)})` : formatDurationCel(rounded, f);
      }),
    allowed: () => str(allowed),
  };
}
