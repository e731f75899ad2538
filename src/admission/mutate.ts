// The pure admission pipeline, one named step after another:
//   subject (what is admitted, its shape checked) -> skip policy -> effective config + tunnel -> problems
//   -> desired parts -> patch -> outcome -> bounded (every message and list small, whatever the input).
// No I/O, no clock, no logger: the webhook and `ghostwire inject` both call mutate() and get the same answer.
import { type ConfigureContext, configure, judgeProblems } from './configure.js';
import { bounded } from './limits.js';
import { type MutationOutcome, type Result, eventTarget, skipped } from './outcome.js';
import { type Desired, desiredParts, patchFor, removalPatch } from './patch-step.js';
import { type Removal, type SkipPolicyContext, skipPolicy } from './skip-policy.js';
import { type Subject, isOutcome, selectSubject } from './subject.js';
import type { AdmissionRequest } from './types.js';

/** Everything mutate() reads besides the request; a memo must be bound to one context (defaults, version, key). */
export interface MutateContext extends ConfigureContext, SkipPolicyContext {
  version: string;
}

export function mutate(req: AdmissionRequest, ctx: MutateContext): MutationOutcome {
  return bounded(decide(req, ctx));
}

function decide(req: AdmissionRequest, ctx: MutateContext): MutationOutcome {
  const subject = selectSubject(req);
  if (isOutcome(subject)) return subject;
  const skip = skipPolicy(subject, ctx);
  if (skip && 'remove' in skip) return removed(subject, skip);
  if (skip) return skip;
  const configured = configure(subject, ctx);
  const denied = judgeProblems(subject, configured, ctx.defaults);
  if (denied) return denied;
  const desired = desiredParts(configured, ctx.version, ctx.memo);
  const patch = patchFor(subject, configured, desired, ctx.memo);
  return injected(subject, desired, patch, configured.warnings, configured.config);
}

function removed(s: Subject, r: Removal): MutationOutcome {
  const out: MutationOutcome = {
    allowed: true,
    result: 'removed',
    reason: 'removed',
    patch: removalPatch(s),
    warnings: r.loud ? [r.loud.message] : [],
    auditAnnotations: { injected: 'false', 'skip-reason': r.remove, removed: 'true' },
  };
  if (r.loud) out.event = { type: 'Warning', reason: 'GhostwireRemoved', message: r.loud.message, regarding: r.loud.regarding };
  return out;
}

function injected(s: Subject, d: Desired, patch: MutationOutcome['patch'], warnings: string[], config: { nativeSidecar: boolean; tunnel: boolean }): MutationOutcome {
  const audit = { injected: 'true', 'config-hash': d.hash };
  if (patch.length === 0) {
    return { ...skipped('already-injected', { warnings, configHash: d.hash }), auditAnnotations: { ...audit, 'skip-reason': 'already-injected' } };
  }
  const result: Result = s.previous === undefined ? 'injected' : 'updated';
  const sidecar = config.nativeSidecar ? 'native sidecar' : 'sidecar';
  return {
    allowed: true,
    result,
    reason: result,
    patch,
    warnings,
    auditAnnotations: audit,
    configHash: d.hash,
    event: {
      type: 'Normal',
      reason: 'GhostwireInjected',
      message: `${result === 'injected' ? 'Injected' : 'Updated'} init container ghostwire-init and ${sidecar} ghostwire-watcher (config ${d.hash}${config.tunnel ? ', tunnel' : ''})`,
      regarding: eventTarget(s.req, s.object, s.namespace, s.isPod),
    },
  };
}
