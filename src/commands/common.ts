// Flag helpers shared by the CLI commands (I/O lives here, not in the pipeline).
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { type Defaults, builtinDefaults, formatFieldErrors, parseDefaults } from '../config/index.js';
import { loadTunnelKey } from '../shadow/tunnel-key-file.js';

export class UsageError extends Error {}

export function parseFlags<T extends ParseArgsConfig['options']>(argv: string[], options: T, usage: string) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: false, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${usage}`);
  }
}

export function loadDefaultsFile(path: string | undefined): Defaults {
  if (!path) return builtinDefaults();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--defaults: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const { defaults, errors } = parseDefaults(text, path);
  if (errors.length > 0) throw new UsageError(`--defaults ${path}: ${formatFieldErrors(errors)}`);
  return defaults;
}

/** The tunnel signing key (see docs/shadow-tunnel.md); a missing or unreadable file is a usage error. */
export function tunnelKeyFromFlag(path: string | undefined, warn: (msg: string) => void): string {
  try {
    return loadTunnelKey(path, { env: process.env, warn }).key;
  } catch (err) {
    throw new UsageError(`--tunnel-key-file: ${(err as Error).message}`);
  }
}

/** Runs a command body, turning UsageError into exit code 2 with its message. */
export async function guard(body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ghostwire: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

/** Multi-document YAML, the one format goldens, docs and every command print. */
export function renderYaml(objects: readonly unknown[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}
