// Small formatting helpers shared by the report and the table: times, ages, stable ordering, clipping.

/** ISO 8601 to the second (the report's only time format). */
export const isoTime = (ms: number): string => new Date(Math.round(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

/** "3d", "1.5d", "12h" for a number of days. */
export function days(d: number): string {
  if (d >= 10) return `${Math.floor(d)}d`;
  if (d >= 1) return `${Math.round(d * 10) / 10}d`;
  return `${Math.max(0, Math.round(d * 24))}h`;
}

/** kubectl's AGE style: 42s, 5m, 3h, 2d (one unit, rounded down). */
export function age(seconds: number): string {
  if (!Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.floor(seconds));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** Code-point order (locale-independent, the same on every machine). */
export const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A value from the cluster in a message: at most `max` characters, control characters escaped. */
export function clip(value: string, max = 80): string {
  const cut = value.length > max ? `${value.slice(0, max)}...` : value;
  return cut.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
