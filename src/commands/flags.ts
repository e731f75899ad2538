// The one flag-and-exit layer of every command: node:util parseArgs (no dependency, cheap for the in-pod
// programs), one error type for usage problems, one mapping to exit codes:
//   0 done, 1 runtime failure (the command ran and something failed), 2 usage error (bad flags, bad configuration).
import { type ParseArgsConfig, parseArgs } from 'node:util';

export class UsageError extends Error {}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parsed flags, or 'help' when -h/--help was given (the caller prints its usage and exits 0). */
export function parseFlags<T extends Options>(argv: string[], options: T, usage: string) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
  return parsed.values;
}

/** parseFlags for commands that also take positional arguments (at most `maxPositionals`). */
export function parseCommandLine<T extends Options>(argv: string[], options: T, usage: string, maxPositionals: number) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
  if (parsed.positionals.length > maxPositionals) {
    const extra = parsed.positionals.slice(maxPositionals).map((p) => JSON.stringify(p.slice(0, 80))).join(' ');
    throw new UsageError(`unexpected argument(s) ${extra}\n\n${usage}`);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

/**
 * Runs a command body: UsageError exits 2 with its message, any other error exits 1 with one line (the stack only
 * with GW_DEBUG). Commands never let an exception escape to the process.
 */
export async function runCommand(name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${name}: ${message}\n`);
    if (process.env.GW_DEBUG && !(err instanceof UsageError)) console.error(err);
    return err instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
  }
}

/** The value, when it is one of `allowed`; otherwise a UsageError naming the flag, the value and what is allowed. */
export function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T {
  if (value !== undefined && (allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${flag}: ${JSON.stringify(value)} is not allowed; allowed: ${allowed.join(', ')}`);
}

/** A whole number within [min, max]. */
export function integer(flag: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (value !== undefined && value.trim() !== '' && Number.isInteger(n) && n >= min && n <= max) return n;
  throw new UsageError(`--${flag}: ${JSON.stringify(value)} is not allowed; allowed: a whole number from ${min} to ${max}`);
}

/** A number of seconds within [min, max] (fractions allowed). */
export function seconds(flag: string, value: string | undefined, min: number, max: number): number {
  const n = Number(value);
  if (value !== undefined && value.trim() !== '' && Number.isFinite(n) && n >= min && n <= max) return n;
  throw new UsageError(`--${flag}: ${JSON.stringify(value)} is not allowed; allowed: seconds from ${min} to ${max}`);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A namespace name (a DNS label). */
export function namespaceName(flag: string, value: string): string {
  if (DNS_LABEL.test(value)) return value;
  throw new UsageError(`--${flag}: ${JSON.stringify(value.slice(0, 80))} is not allowed; allowed: a namespace name (lower-case letters, digits and "-", at most 63)`);
}

/** "NAMESPACE/NAME" of an object (the defaults ConfigMap). */
export function objectName(flag: string, value: string): { namespace: string; name: string } {
  const [namespace, name, ...rest] = value.split('/');
  if (!namespace || !name || rest.length > 0 || !DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(name)) {
    throw new UsageError(`--${flag}: ${JSON.stringify(value.slice(0, 80))} is not allowed; allowed: NAMESPACE/NAME`);
  }
  return { namespace, name };
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevelFlag = (typeof LOG_LEVELS)[number];
