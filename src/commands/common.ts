// Flag helpers shared by the CLI commands (I/O lives here, not in the pipeline).
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type Defaults, builtinDefaults, formatFieldErrors, parseDefaults } from '../config/index.js';

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

/**
 * The key that signs tunnel upgrade-path prefixes. Without a file, a fixed development key is used and said so:
 * fine for `inject` previews, never for a cluster (the Helm chart always mounts a generated key).
 */
export const DEV_TUNNEL_KEY = 'ghostwire-development-tunnel-key';

export function loadTunnelKey(path: string | undefined, warn: (msg: string) => void): string {
  if (!path) {
    warn('no --tunnel-key-file given: tunnel path prefixes are signed with the public development key');
    return DEV_TUNNEL_KEY;
  }
  try {
    const key = readFileSync(path, 'utf8').trim();
    if (key.length < 16) throw new UsageError(`--tunnel-key-file ${path}: the key must be at least 16 characters`);
    return key;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--tunnel-key-file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
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
