// Where traffic to each rewritten destination goes (PURE). A destination is an active Service's ClusterIP, port and
// protocol that the DNAT chain names; its target is the preview ClusterIP while the jump is installed and the
// destination is not excluded, and the active ClusterIP itself otherwise. Comparing the routes before and after a
// change says which established connections now go to the wrong place.
import { type Family, canonicalCidr, canonicalIP, cidrContains } from '../net/address.js';
import type { Protocol } from '../kube/objects.js';
import { type ChainSpec, type DnatRule, type Exclusion, type SavedTable, findJumps } from './iptables/rules.js';
import type { JumpHook } from '../config/options.js';

export interface Destination {
  family: Family;
  protocol: Protocol;
  activeIP: string;
  port: number;
}

export interface Route extends Destination {
  /** Where a new connection to the destination goes now. */
  target: string;
}

/** A route that changed: where connections went before the change. */
export interface Reroute extends Route {
  from: string;
}

/** What one family's nat table does to ghostwire's destinations: the chain's content and whether it is jumped to. */
export interface RoutingState {
  exclusions: readonly Pick<Exclusion, 'cidr'>[];
  rules: readonly Pick<DnatRule, 'protocol' | 'port' | 'activeIP' | 'previewIP'>[];
  jump: boolean;
}

export const destinationKey = (d: Destination): string => `${d.family}|${d.protocol}|${d.activeIP}|${d.port}`;

/** The route of every destination the chain names (the first rule for a destination wins, as in iptables). */
export function routesOf(state: RoutingState, family: Family): Map<string, Route> {
  const out = new Map<string, Route>();
  for (const r of state.rules) {
    const d: Destination = { family, protocol: r.protocol, activeIP: r.activeIP, port: r.port };
    const key = destinationKey(d);
    if (out.has(key)) continue;
    const excluded = state.exclusions.some((e) => cidrContains(e.cidr, r.activeIP));
    out.set(key, { ...d, target: state.jump && !excluded ? r.previewIP : r.activeIP });
  }
  return out;
}

/**
 * Destinations whose target differs between two states, with their new route and where they went before. A
 * destination only one state names goes to its own active address in the other (no rule: no rewrite).
 */
export function changedRoutes(before: RoutingState, after: RoutingState, family: Family): Reroute[] {
  const b = routesOf(before, family);
  const a = routesOf(after, family);
  const out: Reroute[] = [];
  for (const [key, route] of a) {
    const from = b.get(key)?.target ?? route.activeIP;
    if (from !== route.target) out.push({ ...route, from });
  }
  for (const [key, route] of b) if (!a.has(key) && route.target !== route.activeIP) out.push({ ...route, target: route.activeIP, from: route.target });
  return out;
}

/** The desired state of one family: the chain spec, and the jump the role wants. */
export function desiredRouting(spec: ChainSpec, jump: boolean): RoutingState {
  return { exclusions: spec.exclusions, rules: spec.rules, jump };
}

const PROTOCOLS: Record<string, Protocol> = { tcp: 'TCP', udp: 'UDP', sctp: 'SCTP' };

function argAfter(args: readonly string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i === -1 ? undefined : args[i + 1];
}

/** "10.0.0.1:80" or "[fd00::1]:80" -> the address. */
function toAddress(dest: string): string | undefined {
  const m = /^\[([^\]]+)\]:\d+$/.exec(dest) ?? /^([^:]+):\d+$/.exec(dest);
  return m ? canonicalIP(m[1] as string) : undefined;
}

/**
 * What the kernel does now, from iptables-save: the chain's RETURN and DNAT rules (anything else in it is
 * ignored), and whether the hook jumps to it. Undefined values mean "no such chain": no rewrite at all.
 */
export function savedRouting(saved: SavedTable | undefined, chain: string, hook: JumpHook): RoutingState {
  const exclusions: Array<{ cidr: string }> = [];
  const rules: RoutingState['rules'][number][] = [];
  for (const r of saved?.rules ?? []) {
    if (r.chain !== chain) continue;
    const target = argAfter(r.args, '-j');
    const dst = canonicalCidr(argAfter(r.args, '-d') ?? '');
    if (target === 'RETURN' && dst) exclusions.push({ cidr: dst.cidr });
    if (target !== 'DNAT' || !dst) continue;
    const protocol = PROTOCOLS[argAfter(r.args, '-p') ?? ''];
    const port = Number(argAfter(r.args, '--dport'));
    const previewIP = toAddress(argAfter(r.args, '--to-destination') ?? '');
    const activeIP = dst.cidr.slice(0, dst.cidr.indexOf('/'));
    if (protocol && Number.isInteger(port) && previewIP) rules.push({ protocol, port, activeIP, previewIP });
  }
  const jump = saved?.chains.has(chain) === true && findJumps(saved, chain).some((j) => j.hook === hook);
  return { exclusions, rules, jump };
}
