// Steps 3 and 4 of mutate(): the effective config (built-in < defaults < annotations) and the tunnel annotations
// computed from it, with every problem found on the way. Problems are decided on in one place: deny, or fall back
// to the lower layer's value and say so.
import {
  type Annotations,
  type Defaults,
  type InjectConfig,
  type Resolved,
  TUNNEL_ANNOTATIONS,
  formatFieldError,
  resolveConfig,
} from '../config/index.js';
import { OWN_CONTAINERS } from '../inject/render.js';
import type { PodTemplate } from '../kube/objects.js';
import { tunnelAnnotations } from '../shadow/annotations.js';
import { collectContainerPorts } from '../shadow/ports.js';
import { TUNNEL_KINDS, isTunnelKind } from '../shadow/tunnel.js';
import { LIMITS, joinWithin } from './limits.js';
import { BoundedCache, type MutationMemo, memoised, resolvedBytes } from './memo.js';
import type { MutationOutcome } from './outcome.js';
import type { Subject } from './subject.js';

export interface ConfigureContext {
  defaults: Defaults;
  /** Signs the tunnel's upgrade-path prefix (see docs/shadow-tunnel.md). */
  tunnelKey: string;
  memo?: MutationMemo | undefined;
}

export interface Configured {
  config: InjectConfig;
  /** The ghostwire.dev/* annotations of every layer, as a memo key (see annotationSignature). */
  signature: string;
  /** Tunnel annotations to set on the template, and ghostwire tunnel annotations to remove. */
  tunnel: { set: Record<string, string>; remove: readonly string[] };
  /** Formatted problems: invalid annotations, a tunnel that cannot be rendered. */
  problems: string[];
  warnings: string[];
}

/**
 * The ghostwire.dev/* annotations of every layer: all that config resolution reads. JSON, so no value can forge a
 * layer or key boundary (annotation values are arbitrary strings).
 */
export function annotationSignature(layers: readonly Annotations[]): string {
  return JSON.stringify(
    layers.map((layer) => {
      const own: string[] = [];
      if (layer) for (const k in layer) if (k.startsWith('ghostwire.dev/')) own.push(k, layer[k] as string);
      return own;
    }),
  );
}

/** Ports of the workload's own containers: ghostwire's watcher port must never become a tunnel port. */
function workloadPorts(template: PodTemplate) {
  const spec = template.spec ?? {};
  const own = (c: { name: string }) => !OWN_CONTAINERS.has(c.name);
  return collectContainerPorts({ containers: (spec.containers ?? []).filter(own), initContainers: (spec.initContainers ?? []).filter(own) });
}

/** "Deployments, StatefulSets and DaemonSets" */
const kindsText = `${TUNNEL_KINDS.slice(0, -1).map((k) => `${k}s`).join(', ')} and ${TUNNEL_KINDS[TUNNEL_KINDS.length - 1]}s`;

export function configure(s: Subject, ctx: ConfigureContext): Configured {
  const signature = ctx.memo ? BoundedCache.key(annotationSignature(s.layers)) : '';
  const resolved = memoised<Resolved>(ctx.memo?.resolved, signature, () => resolveConfig(ctx.defaults, s.layers), resolvedBytes);
  // Copied: the memoised config is shared between admissions.
  const config: InjectConfig = { ...resolved.config };
  const warnings = resolved.notices.map((n) => `ghostwire: ${n}`);
  const problems = [...(s.enabled.error ? [s.enabled.error] : []), ...resolved.errors].map(formatFieldError);
  // The shadow controller keeps shadows for these kinds only; elsewhere a tunnel endpoint would point at a shadow
  // that never exists.
  if (config.tunnel && !isTunnelKind(s.req.kind.kind)) {
    warnings.push(`ghostwire: tunnels are kept for ${kindsText}; ${s.what} gets no tunnel annotations`);
    config.tunnel = false;
  }
  const tunnel = tunnelAnnotations({
    workloadName: s.objectMeta.name ?? '',
    namespace: s.namespace,
    config,
    network: ctx.defaults.network,
    // Ports matter only to a tunnel; skip collecting them for the common case.
    containerPorts: config.tunnel ? workloadPorts(s.template) : [],
    tunnelKey: ctx.tunnelKey,
  });
  problems.push(...tunnel.errors.map((e) => `ghostwire.dev/tunnel: ${e}`));
  // A tunnel that cannot be rendered is left off entirely: no stale endpoint or command stays behind.
  if (tunnel.errors.length > 0) config.tunnel = false;
  return {
    config,
    signature,
    tunnel: tunnel.errors.length > 0 ? { set: {}, remove: TUNNEL_ANNOTATIONS } : { set: tunnel.set, remove: tunnel.remove },
    problems,
    warnings,
  };
}

/** Every problem, as many as fit in the bounded message, then how many more there are. */
function denialMessage(what: string, problems: readonly string[]): string {
  const head = `ghostwire: invalid configuration for ${what}: `;
  const more = (n: number) => `and ${n} more problem${n === 1 ? '' : 's'}`;
  return head + joinWithin(problems, '; ', LIMITS.denialBytes - Buffer.byteLength(head), more);
}

/** invalidAnnotations: deny refuses the object naming every problem; warn injects with fallbacks and says so. */
export function judgeProblems(s: Subject, c: Configured, defaults: Defaults): MutationOutcome | undefined {
  if (c.problems.length === 0) return undefined;
  if (defaults.invalidAnnotations === 'deny') {
    return {
      allowed: false,
      result: 'denied',
      reason: 'invalid-annotations',
      patch: [],
      warnings: c.warnings,
      auditAnnotations: { injected: 'false', 'skip-reason': 'invalid-annotations' },
      denial: { code: 400, message: denialMessage(s.what, c.problems) },
    };
  }
  // Each bad key fell back to the lower layer's value.
  for (const m of c.problems) c.warnings.push(`ghostwire: ${m}; using the default instead`);
  return undefined;
}
