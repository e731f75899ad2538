// The wstunnel upgrade-path prefix: the shared secret between the shadow's wstunnel server and the remote client.
//
// The webhook is pure and deterministic, yet the client command it writes must carry the same prefix the controller
// puts in the server Deployment. Both therefore derive it from a signing key they load at startup:
//   prefix = hex(HMAC-SHA256(key, namespace + "/" + workloadName)).slice(0, 32)
// Anyone who can read the pod (or the shadow Deployment) can read the prefix, exactly as with interLink; what the
// key protects is that nobody can compute the prefix of a workload they cannot read.
import { createHash, createHmac } from 'node:crypto';

export const UPGRADE_PATH_PREFIX_HEX = 32;

/**
 * Development key, used only when no key file is given (a warning is printed). Documented in docs/shadow-tunnel.md:
 * prefixes derived from it are predictable by anyone who knows a workload's name.
 */
export const DEVELOPMENT_TUNNEL_KEY = 'ghostwire-development-tunnel-key-do-not-use-in-production';

/** Keys shorter than this are refused: the prefix would be guessable offline. */
export const MIN_TUNNEL_KEY_LENGTH = 16;

export function upgradePathPrefix(tunnelKey: string, namespace: string, workloadName: string): string {
  if (tunnelKey.length === 0) throw new Error('the tunnel signing key is empty');
  return createHmac('sha256', tunnelKey).update(`${namespace}/${workloadName}`, 'utf8').digest('hex').slice(0, UPGRADE_PATH_PREFIX_HEX);
}

/** A short, non-secret fingerprint of the key (logs and status only), so operators can check two processes agree. */
export function tunnelKeyId(tunnelKey: string): string {
  return createHash('sha256').update(`ghostwire-tunnel-key-id\u0000${tunnelKey}`, 'utf8').digest('hex').slice(0, 8);
}

/** Parse a key file's content: surrounding whitespace (a trailing newline) is not part of the key. */
export function parseTunnelKey(text: string, source: string): string {
  const key = text.trim();
  if (key.length < MIN_TUNNEL_KEY_LENGTH) {
    throw new Error(`${source}: the tunnel signing key must be at least ${MIN_TUNNEL_KEY_LENGTH} characters (e.g. "openssl rand -hex 32")`);
  }
  return key;
}
