// WireGuard key pairs with node:crypto (X25519), encoded as `wg genkey` / `wg pubkey` do: the raw 32 bytes, base64.
// Private keys only ever go into the <name>-wg-keys Secret; callers must not log them.
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

export interface WireGuardKeyPair {
  privateKey: string;
  publicKey: string;
}

const b64url = (s: string): Buffer => Buffer.from(s, 'base64url');

function rawPublic(key: KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  return b64url(jwk.x as string).toString('base64');
}

/** X25519 private scalar from raw bytes, clamped as `wg genkey` does (wg clamps again on use either way). */
function clamp(raw: Buffer): Buffer {
  const out = Buffer.from(raw);
  out[0] = (out[0] as number) & 248;
  out[31] = ((out[31] as number) & 127) | 64;
  return out;
}

const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

function privateKeyObject(raw: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

export function generateWireGuardKeyPair(): WireGuardKeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  const d = clamp(b64url(privateKey.export({ format: 'jwk' }).d as string));
  return { privateKey: d.toString('base64'), publicKey: rawPublic(createPublicKey(privateKeyObject(d))) };
}

/** A 32-byte key in standard base64 (44 characters), the form wg reads. */
export function isWireGuardKey(text: string): boolean {
  return /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(text) && Buffer.from(text, 'base64').length === 32;
}

/** `wg pubkey`: the public key of a base64 private key. */
export function wireGuardPublicKey(privateKey: string): string {
  if (!isWireGuardKey(privateKey)) throw new Error('not a WireGuard key (32 bytes, base64)');
  return rawPublic(createPublicKey(privateKeyObject(Buffer.from(privateKey, 'base64'))));
}
