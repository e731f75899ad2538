// Loading the tunnel signing key from a file (the CLI, the controller, the webhook). Kept apart from the pure
// modules because it reads the file system.
import { readFileSync } from 'node:fs';
import { DEVELOPMENT_TUNNEL_KEY, parseTunnelKey, tunnelKeyId } from '../shadow/tunnel-key.js';

export const TUNNEL_KEY_FILE_ENV = 'GW_TUNNEL_KEY_FILE';

export interface LoadedTunnelKey {
  key: string;
  /** Non-secret fingerprint, safe to log. */
  keyId: string;
  development: boolean;
  source: string;
}

/**
 * The key from `file` (or $GW_TUNNEL_KEY_FILE); without either, the documented development key and a call to
 * `warn`, unless `requireFile` is set, in which case it throws.
 */
export function loadTunnelKey(
  file: string | undefined,
  options: { env?: Record<string, string | undefined>; warn?: (message: string) => void; requireFile?: boolean } = {},
): LoadedTunnelKey {
  const path = file ?? options.env?.[TUNNEL_KEY_FILE_ENV];
  if (path !== undefined && path !== '') {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new Error(`cannot read the tunnel key file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const key = parseTunnelKey(text, path);
    return { key, keyId: tunnelKeyId(key), development: false, source: path };
  }
  if (options.requireFile) {
    throw new Error(`no tunnel signing key: pass --tunnel-key-file FILE (or set ${TUNNEL_KEY_FILE_ENV})`);
  }
  options.warn?.(
    'no --tunnel-key-file given: using the DEVELOPMENT tunnel key; upgrade-path prefixes are predictable from workload names. ' +
      'Use the same key file for the webhook and the shadow controller in any real cluster.',
  );
  return { key: DEVELOPMENT_TUNNEL_KEY, keyId: tunnelKeyId(DEVELOPMENT_TUNNEL_KEY), development: true, source: 'development key' };
}
