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

export function formatFieldError(e: FieldError): string {
  return `${e.field}: ${quoteValue(e.value)} is invalid; allowed: ${e.allowed}`;
}

export function formatFieldErrors(errors: readonly FieldError[]): string {
  return errors.map(formatFieldError).join('; ');
}
