// Step 2 of mutate(): whether ghostwire may inject this object at all. Every "no" is a stable reason code; a "no"
// the workload asked to be injected for is said out loud (warning and Event), because a workload that runs without
// the routing it asked for must never be silent.
import { type Defaults, formatFieldError } from '../config/index.js';
import { SYSTEM_NAMESPACES } from '../kube/namespaces.js';
import type { ObjectRef } from '../kube/objects.js';
import { type MutationOutcome, eventTarget, skipped, skippedLoudly } from './outcome.js';
import type { Subject } from './subject.js';

export { SYSTEM_NAMESPACES };

export interface SkipPolicyContext {
  defaults: Defaults;
  /** The webhook's own namespace: never injected, so a broken webhook cannot lock itself out. */
  ownNamespace?: string | undefined;
}

/** Undo an earlier injection. A removal the workload did not ask for is said out loud (warning and Event). */
export interface Removal {
  remove: 'not-enabled' | 'host-network';
  loud?: { message: string; regarding: ObjectRef };
}

/** What to do instead of injecting: a skip outcome, a removal (undo an earlier injection), or undefined: inject. */
export function skipPolicy(s: Subject, ctx: SkipPolicyContext): MutationOutcome | Removal | undefined {
  const { req, objectMeta, isPod, enabled } = s;
  // A Pod's containers and volumes are immutable once created: any patch would get the update rejected.
  if (isPod && req.operation === 'UPDATE') return skipped('pod-update');
  // A workload made by a controller (a Deployment's ReplicaSet, a CronJob's Job) is injected through its owner.
  // Changing its template would make the owner stop recognising it: a Deployment then creates ReplicaSets forever.
  if (!isPod && (objectMeta.ownerReferences ?? []).some((o) => o?.controller === true)) return skipped('controller-owned');
  const regarding = () => eventTarget(req, s.object, s.namespace, isPod);
  for (const [reason, blocked] of [
    ['system-namespace', SYSTEM_NAMESPACES.has(s.namespace)],
    ['own-namespace', ctx.ownNamespace !== undefined && s.namespace === ctx.ownNamespace],
  ] as const) {
    if (!blocked) continue;
    if (!enabled.enabled) return skipped(reason);
    return skippedLoudly(reason, `ghostwire does not inject in namespace ${s.namespace} (${reason}); ${s.what} runs without traffic switching`, regarding());
  }
  // In the host's network namespace the chain and the jump would rewrite the node's traffic and outlive the pod:
  // an injected workload that turns hostNetwork on loses ghostwire's uid-0 NET_ADMIN containers.
  if (s.template.spec?.hostNetwork === true && enabled.enabled) {
    if (s.previous !== undefined) {
      const message = `ghostwire removed ghostwire-init and ghostwire-watcher from ${s.what}: with hostNetwork: true their rules would apply to the whole node; it runs without traffic switching`;
      return { remove: 'host-network', loud: { message, regarding: regarding() } };
    }
    return skippedLoudly('host-network', `ghostwire does not inject pods with hostNetwork: true: its rules would apply to the whole node; ${s.what} runs without traffic switching`, regarding());
  }
  // Pods stamped out by an injected workload were rendered with the workload's full config, which may live in
  // annotations the pod does not carry (e.g. `enabled` on the Deployment): never re-decide for them.
  if (isPod && s.previous !== undefined && (objectMeta.ownerReferences ?? []).length > 0) return skipped('injected-by-owner');
  if (enabled.error && ctx.defaults.invalidAnnotations === 'warn') {
    const state = s.previous ? 'injected as it is' : 'off';
    return skipped('not-enabled', { warnings: [`ghostwire: ${formatFieldError(enabled.error)}; the workload stays ${state}`] });
  }
  if (!enabled.enabled && !enabled.error) return s.previous === undefined ? skipped('not-enabled') : { remove: 'not-enabled' };
  return undefined;
}
