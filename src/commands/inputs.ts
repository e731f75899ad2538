// Inputs the commands read from files: the defaults document, the tunnel signing key, manifests.
import { readFileSync } from 'node:fs';
import { type Defaults, builtinDefaults, formatFieldErrors, parseDefaults } from '../config/index.js';
import { UsageError } from './flags.js';
import { type LoadedTunnelKey, loadTunnelKey } from './tunnel-key-file.js';

/** Reads a file (or stdin for "-"); a missing or unreadable file is a usage error naming the flag. */
export function readInput(flag: string, file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The defaults document of --defaults (built-ins without one); every problem is named, any problem is fatal. */
export function loadDefaultsFile(path: string | undefined): Defaults {
  if (!path) return builtinDefaults();
  const { defaults, errors } = parseDefaults(readInput('--defaults', path), path);
  if (errors.length > 0) throw new UsageError(`--defaults ${path}: ${formatFieldErrors(errors)}`);
  return defaults;
}

/** The tunnel signing key (see docs/shadow-tunnel.md); a missing or unreadable file is a usage error. */
export function tunnelKeyFromFlag(path: string | undefined, warn: (msg: string) => void, requireFile = false): LoadedTunnelKey {
  try {
    return loadTunnelKey(path, { env: process.env, warn, requireFile });
  } catch (err) {
    throw new UsageError(`--tunnel-key-file: ${(err as Error).message}`);
  }
}
