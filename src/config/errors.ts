// One shape for every configuration problem, whichever source it came from.

export interface FieldError {
  /** Where the value came from: "annotation", "ConfigMap ns/name config.yaml", "environment", a file name. */
  source: string;
  /** The annotation key, ConfigMap key or variable name. */
  field: string;
  value: string;
  allowed: string;
}

export const fieldError = (source: string, field: string, value: string, allowed: string): FieldError => ({
  source,
  field,
  value,
  allowed,
});

/**
 * Values are quoted and cut, so an over-long or hostile annotation cannot flood a message or a log line. Cut by
 * characters (code points), never inside one: the admission policies' CEL cuts the same way.
 */
export function quoteValue(value: string): string {
  const chars = [...value];
  const cut = chars.length > 80 ? `${chars.slice(0, 77).join('')}...` : value;
  return JSON.stringify(cut);
}

/** What a value is, for messages about values of the wrong type ("a number", "an array"). */
export function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

// C0 and C1 controls, DEL and the two JavaScript line separators: never written raw into a message or a header.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * Caller-controlled text for a message or a log line: a string cut to `max` characters (ending in "...") with control
 * characters escaped; any other value is named by its type. Never calls a caller's toString().
 */
export function clipText(value: unknown, max = 253): string {
  if (typeof value !== 'string') {
    return typeof value === 'number' || typeof value === 'boolean' ? String(value) : `(${typeOf(value)})`;
  }
  const cut = value.length > max ? `${value.slice(0, Math.max(0, max - 3))}...` : value;
  return cut.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A copy of `s` that shares no memory with a longer string it was cut from. V8 keeps the whole parent of a slice
 * alive (`trim()` of an annotation value with 200 KB of trailing spaces is a slice of all of it), so anything kept
 * beyond one admission (the memo) holds copies, never slices of caller input.
 */
export function detach(s: string): string {
  // V8 copies short slices anyway. join() builds one new flat string (measured: a slice of a concatenation would
  // keep two objects per string alive). Every caller passes short, validated values, so the cost is small.
  return s.length < 13 ? s : s.split('').join('');
}

export function formatFieldError(e: FieldError): string {
  return `${clipText(e.field, 128)}: ${quoteValue(e.value)} is invalid; allowed: ${e.allowed}`;
}

export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map(formatFieldError).join('; ');
}
