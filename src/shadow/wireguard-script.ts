// The WireGuard container's start script in a full-mesh shadow (shipped in the shadow's ConfigMap). It contains
// no value from a workload: only fixed paths, addresses and the file names of the keys Secret.
import { WG_KEY_FILES, WG_PEER_ADDRESS } from './remote.js';

export const KEYS_MOUNT = '/etc/ghostwire/wg-keys';
export const CONFIG_MOUNT = '/etc/ghostwire/wg-config';

/** The WireGuard container's start script: builds wg0.conf from this ConfigMap and the mounted Secret. */
export function wireguardUpScript(): string {
  return [
    '#!/bin/sh',
    '# Builds wg0.conf from the non-secret parts in this ConfigMap and the keys Secret mounted read-only, brings',
    "# WireGuard up and forwards the shadow's ports to the remote peer. Runs with CAP_NET_ADMIN only.",
    '# Idempotent: a restarted container finds the pod\'s interface, rules and /run (an emptyDir) as it left them.',
    'set -eu',
    'umask 077',
    `cfg=${CONFIG_MOUNT}`,
    `keys=${KEYS_MOUNT}`,
    'mkdir -p /run/wireguard',
    'rm -f /run/wireguard/ready',
    'conf=/run/wireguard/wg0.conf',
    '{',
    '  cat "$cfg/interface.conf"',
    `  printf 'PrivateKey = %s\\n\\n[Peer]\\n' "$(cat "$keys/${WG_KEY_FILES.serverPrivate}")"`,
    `  printf 'PublicKey = %s\\n' "$(cat "$keys/${WG_KEY_FILES.clientPublic}")"`,
    '  cat "$cfg/peer.conf"',
    '} >"$conf"',
    'if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then',
    '  echo "ghostwire: net.ipv4.ip_forward is 0 in this pod; full-mesh forwarding cannot work" >&2',
    '  exit 1',
    'fi',
    'ip link del wg0 2>/dev/null || true',
    'wg-quick up "$conf"',
    'for c in GW_SHADOW_PRE GW_SHADOW_POST; do iptables -t nat -N "$c" 2>/dev/null || iptables -t nat -F "$c"; done',
    'iptables -t nat -C PREROUTING -j GW_SHADOW_PRE 2>/dev/null || iptables -t nat -A PREROUTING -j GW_SHADOW_PRE',
    'iptables -t nat -C POSTROUTING -j GW_SHADOW_POST 2>/dev/null || iptables -t nat -A POSTROUTING -j GW_SHADOW_POST',
    'for p in $(cat "$cfg/forward-ports"); do',
    `  iptables -t nat -A GW_SHADOW_PRE ! -i wg0 -p "\${p%%/*}" --dport "\${p##*/}" -j DNAT --to-destination ${WG_PEER_ADDRESS}`,
    'done',
    'iptables -t nat -A GW_SHADOW_POST -o wg0 -j MASQUERADE',
    `iptables -t nat -A GW_SHADOW_POST -s ${WG_PEER_ADDRESS}/32 ! -o wg0 -j MASQUERADE`,
    'touch /run/wireguard/ready',
    'trap \'rm -f /run/wireguard/ready; wg-quick down "$conf"; exit 0\' TERM INT',
    'while :; do sleep 3600 & wait $!; done',
    '',
  ].join('\n');
}
