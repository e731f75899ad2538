// What the remote side runs: the plain-mode wstunnel client command and the full-mesh pre-exec script. Pure and
// deterministic: the same input gives byte-identical text (ports are sorted by the caller, nothing random here).
import type { NetworkConfig } from '../config/defaults.js';
import type { ShadowIdentity } from './identity.js';
import { tunnelUrl } from './identity.js';
import { type TunnelPort, WIREGUARD_PORT, comparePorts } from './ports.js';

/** WireGuard addresses inside the full-mesh tunnel: the shadow pod's end and the remote peer's end. */
export const WG_SERVER_ADDRESS = '10.7.0.1';
export const WG_PEER_ADDRESS = '10.7.0.2';
/** Keys in the <name>-wg-keys Secret. */
export const WG_KEY_FILES = {
  serverPrivate: 'server-private-key',
  serverPublic: 'server-public-key',
  clientPrivate: 'client-private-key',
  clientPublic: 'client-public-key',
} as const;
/** Where the remote runtime is expected to mount the keys Secret (overridable with $GHOSTWIRE_WG_KEYS). */
export const REMOTE_KEYS_DIR = '/run/secrets/ghostwire';

export class ScriptValueError extends Error {
  override name = 'ScriptValueError';
}

/**
 * A value that goes into the script verbatim (an address, a Secret name, a URL): only characters no shell or printf
 * gives a meaning to are allowed. Everything here is validated or built by ghostwire first, so a refusal is a bug,
 * never a silently altered script.
 */
export function scriptLiteral(value: string, what: string): string {
  if (!/^[A-Za-z0-9._:/-]+$/.test(value)) throw new ScriptValueError(`${what} ${JSON.stringify(value.slice(0, 80))} cannot go into a script`);
  return value;
}

/**
 * Caller-controlled text in a `#` comment: printable ASCII only, everything else (newlines first of all) escaped as
 * \uXXXX, so the text can never end the comment and become a command.
 */
export function commentText(value: string, max = 253): string {
  const cut = value.length > max ? `${value.slice(0, max - 3)}...` : value;
  return cut.replace(/[^\x20-\x7e]|\\/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** One reverse forward per TCP or UDP port: the shadow listens on [::]:<p> and forwards to the remote localhost:<p>. */
export function reverseForwards(ports: readonly TunnelPort[]): string[] {
  return [...ports]
    .filter((p) => p.protocol === 'TCP' || p.protocol === 'UDP')
    .sort(comparePorts)
    .map((p) => `-R '${p.protocol.toLowerCase()}://[::]:${Number(p.port)}:localhost:${Number(p.port)}'`);
}

/**
 * Plain mode: a single shell command line. The -R values are single-quoted because "[::]" is a glob pattern to
 * most shells.
 */
export function clientCommand(identity: ShadowIdentity, network: NetworkConfig, prefix: string, ports: readonly TunnelPort[]): string {
  return [
    'wstunnel client',
    `--http-upgrade-path-prefix ${scriptLiteral(prefix, 'upgrade-path prefix')}`,
    ...reverseForwards(ports),
    scriptLiteral(tunnelUrl(identity, network), 'tunnel URL'),
  ].join(' ');
}

/**
 * Full mesh: a POSIX sh script that opens the WebSocket tunnel to the shadow's WireGuard port and brings up a
 * WireGuard interface routed to the cluster's Service and Pod CIDRs. It names the Secret holding the key material
 * and reads the keys from files at run time; it never contains a key.
 */
export function preExecScript(identity: ShadowIdentity, network: NetworkConfig, prefix: string): string {
  const keysDir = scriptLiteral(`${REMOTE_KEYS_DIR}/${identity.keysSecretName}`, 'keys directory');
  const wg = `127.0.0.1:${WIREGUARD_PORT}`;
  const allowed = [`${WG_SERVER_ADDRESS}/32`, network.serviceCIDR, network.podCIDR].map((c) => scriptLiteral(c, 'CIDR')).join(', ');
  const url = scriptLiteral(tunnelUrl(identity, network), 'tunnel URL');
  const where = `${scriptLiteral(identity.namespace, 'namespace')}/`;
  return [
    '#!/bin/sh',
    // The workload name is the one value here that no rule constrains (a forged review or a hand-made manifest).
    `# ghostwire full-mesh tunnel for ${where}${commentText(identity.workloadName)} via ${scriptLiteral(identity.host, 'host')}`,
    `# Key material: Secret ${where}${scriptLiteral(identity.keysSecretName, 'Secret name')} (keys ${WG_KEY_FILES.clientPrivate},`,
    `# ${WG_KEY_FILES.serverPublic}), mounted by the remote runtime at $GHOSTWIRE_WG_KEYS. This script holds no key.`,
    '# Needs: wstunnel, wg-quick (kernel WireGuard, or wireguard-go via WG_QUICK_USERSPACE_IMPLEMENTATION).',
    'set -eu',
    `keys="\${GHOSTWIRE_WG_KEYS:-${keysDir}}"`,
    'run="$(mktemp -d)"',
    `wstunnel client --http-upgrade-path-prefix ${scriptLiteral(prefix, 'upgrade-path prefix')} -L 'udp://${wg}:${wg}?timeout_sec=0' ${url} >"$run/wstunnel.log" 2>&1 &`,
    'umask 077',
    '{',
    `  printf '[Interface]\\nAddress = ${WG_PEER_ADDRESS}/32\\nPrivateKey = %s\\n\\n' "$(cat "$keys/${WG_KEY_FILES.clientPrivate}")"`,
    `  printf '[Peer]\\nPublicKey = %s\\n' "$(cat "$keys/${WG_KEY_FILES.serverPublic}")"`,
    `  printf 'Endpoint = ${wg}\\nAllowedIPs = ${allowed}\\nPersistentKeepalive = 25\\n'`,
    '} >"$run/gw0.conf"',
    'wg-quick up "$run/gw0.conf"',
    '',
  ].join('\n');
}
