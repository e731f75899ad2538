// The full-mesh WireGuard keys Secret: built once by the controller from freshly generated keys, and checked
// (without ever putting a key into a message) before it is used.
import type { V1Secret } from '@kubernetes/client-node';
import type { OwnerRef } from '../kube/objects.js';
import type { ShadowIdentity } from './identity.js';
import { type ShadowSecret, shadowMetadata } from './manifests.js';
import { WG_KEY_FILES } from './remote.js';
import { isWireGuardKey, wireGuardPublicKey } from './wireguard.js';

/** The keys Secret (full mesh): built by the controller from freshly generated keys, created once. */
export function wireGuardKeysSecret(
  identity: ShadowIdentity,
  keys: { serverPrivate: string; serverPublic: string; clientPrivate: string; clientPublic: string },
  owner: OwnerRef | undefined,
): ShadowSecret {
  const meta = shadowMetadata(identity, 'full-mesh', identity.keysSecretName, owner);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta,
    type: 'Opaque',
    data: {
      [WG_KEY_FILES.serverPrivate]: b64(keys.serverPrivate),
      [WG_KEY_FILES.serverPublic]: b64(keys.serverPublic),
      [WG_KEY_FILES.clientPrivate]: b64(keys.clientPrivate),
      [WG_KEY_FILES.clientPublic]: b64(keys.clientPublic),
    },
  };
}

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** Checks the keys Secret without ever putting a key into the message. */
export function checkKeysSecret(secret: V1Secret): string | undefined {
  const read = (k: string): string | undefined => {
    const d = secret.data?.[k];
    return d === undefined ? undefined : Buffer.from(d, 'base64').toString('utf8');
  };
  for (const k of Object.values(WG_KEY_FILES)) {
    const v = read(k);
    if (v === undefined || !isWireGuardKey(v)) return `key ${k} is missing or not a WireGuard key`;
  }
  if (wireGuardPublicKey(read(WG_KEY_FILES.serverPrivate)!) !== read(WG_KEY_FILES.serverPublic)) return 'the server key pair does not match';
  if (wireGuardPublicKey(read(WG_KEY_FILES.clientPrivate)!) !== read(WG_KEY_FILES.clientPublic)) return 'the client key pair does not match';
  return undefined;
}
