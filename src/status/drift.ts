// Drift: what a stored workload runs against what the webhook would give it now. The answer comes from the webhook's
// own pure pipeline (admission/mutate.ts) run on the object as stored, so `ghostwire status` and the shadow
// controller's ghostwire_workload_config_stale can never disagree with the webhook, nor with each other: this is the
// one function both call.
import { type MutateContext, mutate } from '../admission/mutate.js';
import type { MutationOutcome } from '../admission/outcome.js';
import { type Subject, isOutcome, selectSubject } from '../admission/subject.js';
import type { TargetKind } from '../admission/target.js';
import type { AdmissionRequest } from '../admission/types.js';
import { resolveConfig } from '../config/index.js';
import { POLICY_ID_PREFIX, policyConfigId } from '../config/policy-identity.js';
import type { KubeObject } from '../kube/objects.js';
import { isTunnelKind } from '../shadow/tunnel.js';

export type WorkloadState =
  /** Injected, and runs the config hash the current defaults and its annotations give. */
  | 'current'
  /** Injected with another config hash: its pods keep the old configuration until it is rolled. */
  | 'rollout-needed'
  /** Injected but no longer enabled: the next write of the workload removes ghostwire. */
  | 'removal-pending'
  /** Enabled, and the webhook would inject it, but it is not injected. */
  | 'not-injected'
  /** Its ghostwire.dev annotations are invalid: the webhook refuses it (deny) or ignores the opt-in (warn). */
  | 'refused'
  /** Enabled, but the webhook never injects it (system or webhook namespace, hostNetwork, workloadRef, ...). */
  | 'skipped'
  /** Not asking for ghostwire, and not injected. */
  | 'not-enabled'
  /** The expected hash cannot be computed here (see `detail`). */
  | 'unknown';

export interface Drift {
  state: WorkloadState;
  enabled: boolean;
  injected: boolean;
  sidecarMode: 'container' | 'native' | null;
  /** The hash its pod template runs (ghostwire.dev/status configHash), clipped. */
  runningHash: string | null;
  /** The hash the webhook would write now. */
  expectedHash: string | null;
  /** The pipeline's reason code (a skip reason, injected, updated, removed, invalid-annotations, ...). */
  reason: string;
  /** One line for humans: the webhook's own warning or denial message, when there is one. */
  detail: string | null;
  /** Warnings the webhook would return (warn-mode fallbacks, unknown ghostwire.dev/ keys). */
  warnings: string[];
}

export interface DriftContext extends MutateContext {
  /**
   * False when `tunnelKey` is a stand-in (the caller has no key): a tunnel workload's hash covers its signed tunnel
   * annotations, so it cannot be computed without the real key.
   */
  tunnelKeyKnown: boolean;
}

const HASH_MAX = 64;
export const TUNNEL_KEY_NEEDED = 'tunnel workload: its config hash covers the signed tunnel annotations; pass --tunnel-key-file to compare';
const API_VERSIONS: Record<string, string> = { '': 'v1', apps: 'v1', batch: 'v1', 'argoproj.io': 'v1alpha1' };

/** The review the webhook would get at the workload's next write (a Pod's next one is its re-creation). */
function reviewOf(object: KubeObject, kind: TargetKind): AdmissionRequest {
  const meta = object.metadata ?? {};
  const req: AdmissionRequest = {
    uid: 'ghostwire-status',
    kind: { group: kind.group, version: API_VERSIONS[kind.group] ?? 'v1', kind: kind.kind },
    namespace: typeof meta.namespace === 'string' ? meta.namespace : 'default',
    operation: kind.kind === 'Pod' ? 'CREATE' : 'UPDATE',
    object,
  };
  if (typeof meta.name === 'string') req.name = meta.name;
  return req;
}

function clipHash(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v.slice(0, HASH_MAX) : null;
}

function sidecarModeOf(v: unknown): 'container' | 'native' | null {
  return v === 'container' || v === 'native' ? v : null;
}

export function judgeWorkload(object: KubeObject, kind: TargetKind, ctx: DriftContext): Drift {
  try {
    return judge(object, kind, ctx);
  } catch (err) {
    // An object the pipeline cannot take (the webhook would deny it too) must not take the whole report down.
    return {
      state: 'unknown',
      enabled: false,
      injected: false,
      sidecarMode: null,
      runningHash: null,
      expectedHash: null,
      reason: 'internal-error',
      detail: `the admission pipeline failed on this object: ${(err as Error).message}`.slice(0, 300),
      warnings: [],
    };
  }
}

function judge(object: KubeObject, kind: TargetKind, ctx: DriftContext): Drift {
  const req = reviewOf(object, kind);
  const subject = selectSubject(req);
  if (isOutcome(subject)) return fromEarlyOutcome(subject, object);
  const base = {
    enabled: subject.enabled.enabled,
    injected: subject.previous !== undefined,
    sidecarMode: sidecarModeOf(subject.previous?.sidecarMode),
    runningHash: clipHash(subject.previous?.configHash),
  };
  const drift = policyIdentity(classify(subject, mutate(req, ctx), base), subject, ctx);
  if (ctx.tunnelKeyKnown || drift.expectedHash === null || !wantsTunnel(subject, kind, ctx)) return drift;
  // Without the key the hash computed here is not the webhook's: say so rather than report a false drift.
  if (drift.state === 'not-injected') return { ...drift, expectedHash: null };
  if (drift.state !== 'current' && drift.state !== 'rollout-needed') return drift;
  return { ...drift, state: 'unknown', expectedHash: null, detail: TUNNEL_KEY_NEEDED };
}

/** A workload the admission policies injected runs their config identity, not the webhook's hash: compare that. */
function policyIdentity(drift: Drift, s: Subject, ctx: DriftContext): Drift {
  if (!drift.runningHash?.startsWith(POLICY_ID_PREFIX) || (drift.state !== 'current' && drift.state !== 'rollout-needed')) return drift;
  const expectedHash = policyConfigId({ ...resolveConfig(ctx.defaults, s.layers).config, tunnel: false });
  return { ...drift, expectedHash, state: drift.runningHash === expectedHash ? 'current' : 'rollout-needed' };
}

function wantsTunnel(s: Subject, kind: TargetKind, ctx: DriftContext): boolean {
  return isTunnelKind(kind.kind) && resolveConfig(ctx.defaults, s.layers).config.tunnel;
}

type Base = Pick<Drift, 'enabled' | 'injected' | 'sidecarMode' | 'runningHash'>;

function classify(s: Subject, o: MutationOutcome, base: Base): Drift {
  const expectedHash = clipHash(o.configHash);
  const detail = o.denial?.message ?? o.warnings[0] ?? null;
  const out = (state: WorkloadState, extra: Partial<Drift> = {}): Drift => ({ ...base, state, expectedHash, reason: o.reason, detail, warnings: o.warnings, ...extra });
  if (o.result === 'denied') return out(o.reason === 'invalid-annotations' ? 'refused' : 'unknown');
  // Why it is removed is the audit annotation's skip reason (not-enabled, host-network, ...).
  if (o.result === 'removed') return out(base.injected ? 'removal-pending' : 'not-enabled', { reason: o.auditAnnotations['skip-reason'] ?? o.reason });
  if (o.result === 'injected') return out('not-injected');
  if (o.result === 'updated' || o.reason === 'already-injected') {
    return out(base.runningHash !== null && base.runningHash === expectedHash ? 'current' : 'rollout-needed');
  }
  // Skipped for another reason.
  if (s.enabled.error) return out('refused');
  if (o.reason === 'not-enabled') return out(base.injected ? 'removal-pending' : 'not-enabled');
  return out(base.enabled || base.injected ? 'skipped' : 'not-enabled');
}

/**
 * Decided before the subject was read: no pod template to speak of (a Rollout with workloadRef, a template-less
 * object), or an object the webhook refuses as it stands (invalid-object: a field of the wrong type or size).
 */
function fromEarlyOutcome(o: MutationOutcome, object: KubeObject): Drift {
  const annotations = object.metadata?.annotations;
  const enabled = typeof annotations === 'object' && annotations !== null && annotations['ghostwire.dev/enabled'] === 'true';
  return {
    state: o.result === 'denied' ? 'refused' : enabled ? 'skipped' : 'not-enabled',
    enabled,
    injected: false,
    sidecarMode: null,
    runningHash: null,
    expectedHash: null,
    reason: o.reason,
    detail: o.denial?.message ?? o.warnings[0] ?? null,
    warnings: o.warnings,
  };
}
