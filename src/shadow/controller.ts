// The shadow lifecycle controller's logic, written against ShadowApi (one implementation on
// @kubernetes/client-node in src/k8s/shadow-api.ts, a test double in test/helpers). Two parts:
//   ShadowReconciler: one reconcile of one workload (render, preflight, keys, apply, wait, status, events, cleanup);
//   ShadowController: the work queue (dedup per workload, bounded concurrency, retry with exponential backoff,
//                     abort of a stale attempt when the workload's inputs change).
import type { CoreV1Event, V1EndpointSlice, V1Pod, V1PodTemplateSpec, V1ReplicaSet, V1Secret } from '@kubernetes/client-node';
import type { Defaults } from '../config/defaults.js';
import { formatFieldErrors } from '../config/errors.js';
import { ANNOTATION_PREFIX, TUNNEL_STATUS_ANNOTATION } from '../config/options.js';
import { resolveConfig } from '../config/resolve.js';
import { formatDuration } from '../config/validate.js';
import { SHADOW_APP_NAME, SHADOW_MANAGED_BY, type ShadowIdentity, shadowIdentity } from './identity.js';
import {
  type ShadowObject,
  type ShadowOwner,
  type ShadowPlan,
  type ShadowRef,
  type ShadowSecret,
  ShadowRenderError,
  planShadow,
  refKey,
  refOf,
  shadowObjectRefs,
  wireGuardKeysSecret,
} from './manifests.js';
import { collectContainerPorts } from './ports.js';
import { evaluateReadiness } from './readiness.js';
import { WG_KEY_FILES } from './remote.js';
import { type ShadowPhase, type ShadowStatus, formatStatus, parseStatus } from './status.js';
import { type WireGuardKeyPair, generateWireGuardKeyPair, isWireGuardKey, wireGuardPublicKey } from './wireguard.js';

export const FIELD_MANAGER = 'ghostwire-shadow';
export const EVENT_COMPONENT = 'ghostwire-shadow';
export const EVENT_REASONS = { Pending: 'ShadowPending', Ready: 'ShadowReady', Failed: 'ShadowFailed', Removed: 'ShadowRemoved' } as const;
/** Workload kinds the controller reconciles. */
export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** What the controller needs of a workload object. */
export interface Workload {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: Date | string;
  };
  spec?: { template?: V1PodTemplateSpec };
}

export interface WorkloadRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
}

/** A read object: enough to check ownership and uid. */
export interface ApiObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; ownerReferences?: Array<{ uid: string; controller?: boolean }> };
  [key: string]: unknown;
}

/**
 * Everything the controller does to the cluster. Implementations throw on API errors (with messages that never
 * include object bodies), return undefined for "not found".
 */
export interface ShadowApi {
  /** Server-side apply (fieldManager ghostwire-shadow, force); returns the object as stored (with its uid). */
  apply(obj: ShadowObject): Promise<ApiObject>;
  get(ref: ShadowRef): Promise<ApiObject | undefined>;
  /** Delete exactly the object with this uid (precondition); "not found" is success. */
  delete(ref: ShadowRef, uid: string): Promise<void>;
  listPods(namespace: string, selector: Record<string, string>): Promise<V1Pod[]>;
  listReplicaSets(namespace: string, selector: Record<string, string>): Promise<V1ReplicaSet[]>;
  listEndpointSlices(namespace: string, serviceName: string): Promise<V1EndpointSlice[]>;
  /** JSON merge patch of metadata.annotations (null deletes a key). */
  patchAnnotations(ref: WorkloadRef, annotations: Record<string, string | null>): Promise<void>;
  createEvent(event: CoreV1Event): Promise<void>;
  /** Read the Secret; when absent, create build() (called only then); on AlreadyExists, read it again. */
  getOrCreateSecret(ref: ShadowRef, build: () => ShadowSecret): Promise<{ secret: V1Secret; created: boolean }>;
}

export interface Clock {
  now(): number;
}

/** Minimal logger (pino-compatible). Callers never pass key material or object bodies. */
export interface ShadowLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface ReconcilerOptions {
  api: ShadowApi;
  defaults: Defaults;
  tunnelKey: string;
  log: ShadowLog;
  clock?: Clock;
  /** Resolves after `ms`, or earlier when a shadow object changed (informer notification), or rejects on abort. */
  waitForChange?: (ms: number, signal?: AbortSignal) => Promise<void>;
  keygen?: () => WireGuardKeyPair;
  /** reportingInstance of events (the pod name). */
  instance?: string;
}

export type ReconcileOutcome =
  | { state: 'Ready'; endpoint: string }
  | { state: 'Removed'; deleted: string[] }
  | { state: 'Skipped'; reason: string }
  | { state: 'Aborted' }
  | { state: 'Failed'; reason: string; retry: boolean };

/** A failure that retrying cannot fix (bad config, name conflict): reported, retried only when the workload changes. */
export class PermanentError extends Error {
  override name = 'PermanentError';
}
/** Writing the status annotation failed: returned to the queue, which retries with backoff. */
export class StatusWriteError extends Error {
  override name = 'StatusWriteError';
}
/** The attempt was abandoned because the workload changed; a new reconcile follows. */
export class AbortedError extends Error {
  override name = 'AbortedError';
}

const TUNNEL_OPTION_KEYS = new Set(['tunnel', 'tunnelPorts', 'fullMesh', 'tunnelTimeout'].map((k) => ANNOTATION_PREFIX + k));

export function workloadRef(w: Workload): WorkloadRef {
  return { apiVersion: w.apiVersion, kind: w.kind, namespace: w.metadata.namespace, name: w.metadata.name };
}

export function workloadKey(w: { kind: string; metadata: { namespace: string; name: string } }): string {
  return `${w.kind}/${w.metadata.namespace}/${w.metadata.name}`;
}

/** The controller's own shadow Deployments are never treated as workloads. */
export function isShadowObject(w: { metadata?: { labels?: Record<string, string> } }): boolean {
  const l = w.metadata?.labels ?? {};
  return l['app.kubernetes.io/name'] === SHADOW_APP_NAME && l['app.kubernetes.io/managed-by'] === SHADOW_MANAGED_BY;
}

/** Whether a workload's effective config turns the tunnel on (annotations over the defaults document). */
export function wantsTunnel(defaults: Defaults, w: Workload): boolean {
  return resolveConfig(defaults, [w.metadata.annotations, w.spec?.template?.metadata?.annotations]).config.tunnel;
}

const ownedBy = (o: ApiObject, uid: string): boolean => (o.metadata?.ownerReferences ?? []).some((r) => r.uid === uid);

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortedError('aborted'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new AbortedError('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export const systemClock: Clock = { now: () => Date.now() };

interface Attempt {
  /**
   * Objects this attempt created (they did not exist before it), or took over from an abandoned attempt, with their
   * uid, in creation order.
   */
  created: Array<{ ref: ShadowRef; uid: string }>;
}

export class ShadowReconciler {
  private readonly api: ShadowApi;
  private readonly log: ShadowLog;
  private readonly clock: Clock;
  private readonly waitForChange: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly keygen: () => WireGuardKeyPair;
  /**
   * Objects created by attempts that were abandoned (the workload's inputs changed mid-attempt), by workload uid. The
   * next attempt takes them over as its own: a failure removes them too, instead of treating them as pre-existing.
   */
  private readonly abandoned = new Map<string, Attempt['created']>();

  constructor(private readonly options: ReconcilerOptions) {
    this.api = options.api;
    this.log = options.log;
    this.clock = options.clock ?? systemClock;
    this.waitForChange = options.waitForChange ?? sleep;
    this.keygen = options.keygen ?? generateWireGuardKeyPair;
  }

  /** One reconcile. Throws StatusWriteError (and only that kind of error) when the status could not be written. */
  async reconcile(cached: Workload, signal?: AbortSignal): Promise<ReconcileOutcome> {
    if (isShadowObject(cached)) return { state: 'Skipped', reason: 'a ghostwire shadow object' };
    if (cached.metadata.deletionTimestamp) return { state: 'Skipped', reason: 'being deleted (garbage collection removes the shadow)' };
    // Read our own writes: an informer cache may not show the status written a moment ago yet, and deciding on a
    // stale status would repeat a write and its Event.
    const live = await this.api.get(workloadRef(cached));
    if (!live || live.metadata?.uid !== cached.metadata.uid) {
      this.abandoned.delete(cached.metadata.uid);
      return { state: 'Skipped', reason: 'the workload is gone' };
    }
    const w: Workload = { ...cached, metadata: live.metadata as Workload['metadata'], spec: (live as { spec?: Workload['spec'] }).spec };
    if (w.metadata.deletionTimestamp) return { state: 'Skipped', reason: 'being deleted (garbage collection removes the shadow)' };
    const annotations = w.metadata.annotations ?? {};
    const resolved = resolveConfig(this.options.defaults, [annotations, w.spec?.template?.metadata?.annotations]);
    if (!resolved.config.tunnel) {
      this.abandoned.delete(w.metadata.uid);
      return this.teardown(w);
    }

    const previous = parseStatus(annotations[TUNNEL_STATUS_ANNOTATION]);
    const tunnelErrors = resolved.errors.filter((e) => TUNNEL_OPTION_KEYS.has(e.field));
    let plan: ShadowPlan;
    try {
      if (tunnelErrors.length > 0) throw new ShadowRenderError([formatFieldErrors(tunnelErrors)]);
      plan = planShadow(
        {
          workloadName: w.metadata.name,
          namespace: w.metadata.namespace,
          config: resolved.config,
          network: this.options.defaults.network,
          containerPorts: collectContainerPorts(w.spec?.template?.spec),
          tunnelKey: this.options.tunnelKey,
        },
        { owner: ownerOf(w) },
      );
    } catch (err) {
      if (!(err instanceof ShadowRenderError)) throw err;
      let reason = `cannot render the shadow: ${err.message}`;
      // What an abandoned attempt created is not left half-built behind a configuration that cannot be rendered.
      const leftover = this.abandoned.get(w.metadata.uid);
      if (leftover) {
        const cleanupErrors = await this.cleanup(w, { created: leftover });
        this.abandoned.delete(w.metadata.uid);
        if (cleanupErrors.length > 0) reason += `; cleanup incomplete: ${cleanupErrors.join('; ')}`;
      }
      await this.setStatus(w, previous, { phase: 'Failed', reason });
      return { state: 'Failed', reason, retry: false };
    }

    const base: ShadowStatus = { phase: 'Pending', mode: plan.mode, endpoint: plan.identity.host, hash: plan.hash };
    const steady = previous?.phase === 'Ready' && previous.hash === plan.hash;
    let current = previous;
    if (!steady) {
      await this.setStatus(w, current, { ...base, phase: 'Pending', reason: 'applying shadow objects' });
      current = { ...base, phase: 'Pending' };
    }

    const attempt: Attempt = { created: [...(this.abandoned.get(w.metadata.uid) ?? [])] };
    try {
      await this.applyAll(w, plan, attempt);
      await this.removeOtherMode(w, plan);
      await this.waitReady(plan, resolved.config.tunnelTimeoutMs, signal, async (waitingFor) => {
        // Ready before, not ready now (a pod died, an endpoint went away): say so while waiting.
        if (current?.phase === 'Ready') {
          await this.setStatus(w, current, { ...base, phase: 'Pending', reason: `waiting for ${waitingFor.join('; ')}` });
          current = { ...base, phase: 'Pending' };
        }
      });
    } catch (err) {
      if (err instanceof AbortedError || signal?.aborted) {
        this.log.info({ workload: workloadKey(w) }, 'shadow attempt abandoned: the workload changed or the controller is stopping');
        if (attempt.created.length > 0) this.abandoned.set(w.metadata.uid, attempt.created);
        return { state: 'Aborted' };
      }
      const cleanupErrors = await this.cleanup(w, attempt);
      this.abandoned.delete(w.metadata.uid);
      let reason = errorMessage(err);
      if (cleanupErrors.length > 0) reason += `; cleanup incomplete: ${cleanupErrors.join('; ')}`;
      const retry = !(err instanceof PermanentError);
      this.log.warn({ workload: workloadKey(w), retry, removed: attempt.created.map((c) => refKey(c.ref)) }, `shadow attempt failed: ${reason}`);
      await this.setStatus(w, current, { ...base, phase: 'Failed', reason });
      return { state: 'Failed', reason, retry };
    }
    this.abandoned.delete(w.metadata.uid);
    await this.setStatus(w, current, { ...base, phase: 'Ready' });
    return { state: 'Ready', endpoint: plan.identity.host };
  }

  /** Preflight (no foreign object is ever overwritten), keys, then server-side apply of every object in order. */
  private async applyAll(w: Workload, plan: ShadowPlan, attempt: Attempt): Promise<void> {
    const preexisting = new Set<string>();
    for (const obj of plan.objects) {
      const existing = await this.api.get(refOf(obj));
      if (!existing) continue;
      if (!ownedBy(existing, w.metadata.uid)) {
        throw new PermanentError(
          `${obj.kind} ${obj.metadata.namespace}/${obj.metadata.name} already exists and is not owned by ${w.kind} ${w.metadata.name}; ` +
            'rename or remove it (two tunnel workloads of different kinds with the same name share one shadow identity)',
        );
      }
      preexisting.add(refKey(refOf(obj)));
    }
    if (plan.mode === 'full-mesh') await this.ensureKeys(w, plan.identity);
    for (const obj of plan.objects) {
      const ref = refOf(obj);
      const isNew = !preexisting.has(refKey(ref));
      let stored: ApiObject;
      try {
        stored = await this.api.apply(obj);
      } catch (err) {
        // The request may have failed after the object was stored: if it now exists, is ours and is new, it is
        // this attempt's to remove.
        if (isNew) {
          const after = await this.api.get(ref).catch(() => undefined);
          const uid = after?.metadata?.uid;
          if (after && uid && ownedBy(after, w.metadata.uid)) attempt.created.push({ ref, uid });
        }
        throw new Error(`apply ${obj.kind} ${ref.namespace}/${ref.name} failed: ${errorMessage(err)}`);
      }
      const uid = stored.metadata?.uid;
      if (isNew && uid) attempt.created.push({ ref, uid });
    }
  }

  /**
   * The keys Secret: read, or created once (AlreadyExists re-reads). It is not part of an attempt's cleanup, so
   * every retry uses the same keys; it goes away with the workload (owner reference) or when the tunnel leaves
   * full-mesh mode. A Secret that exists but is not ours or is malformed is never overwritten.
   */
  private async ensureKeys(w: Workload, identity: ShadowIdentity): Promise<void> {
    const ref: ShadowRef = { apiVersion: 'v1', kind: 'Secret', namespace: identity.namespace, name: identity.keysSecretName };
    const { secret, created } = await this.api.getOrCreateSecret(ref, () => {
      const server = this.keygen();
      const client = this.keygen();
      return wireGuardKeysSecret(
        identity,
        { serverPrivate: server.privateKey, serverPublic: server.publicKey, clientPrivate: client.privateKey, clientPublic: client.publicKey },
        ownerOf(w),
      );
    });
    if (!ownedBy(secret as ApiObject, w.metadata.uid)) {
      throw new PermanentError(`Secret ${ref.namespace}/${ref.name} already exists and is not owned by ${w.kind} ${w.metadata.name}`);
    }
    const problem = checkKeysSecret(secret);
    if (problem) throw new PermanentError(`Secret ${ref.namespace}/${ref.name}: ${problem}; delete it to have new keys generated`);
    this.log.info({ workload: workloadKey(w), secret: ref.name, created }, created ? 'WireGuard keys created' : 'WireGuard keys reused');
  }

  /** Objects of the other mode (and a stale keys Secret in plain mode) that this workload owns are deleted. */
  private async removeOtherMode(w: Workload, plan: ShadowPlan): Promise<void> {
    const keep = new Set(plan.objects.map((o) => refKey(refOf(o))));
    if (plan.mode === 'full-mesh') keep.add(refKey({ apiVersion: 'v1', kind: 'Secret', namespace: plan.identity.namespace, name: plan.identity.keysSecretName }));
    for (const ref of shadowObjectRefs(plan.identity)) {
      if (keep.has(refKey(ref))) continue;
      const existing = await this.api.get(ref);
      const uid = existing?.metadata?.uid;
      if (existing && uid && ownedBy(existing, w.metadata.uid)) {
        await this.api.delete(ref, uid);
        this.log.info({ workload: workloadKey(w), object: refKey(ref) }, 'removed a shadow object of the other mode');
      }
    }
  }

  private async waitReady(
    plan: ShadowPlan,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    onFirstNotReady: (waitingFor: string[]) => Promise<void>,
  ): Promise<void> {
    const { identity } = plan;
    const deadline = this.clock.now() + timeoutMs;
    let interval = 250;
    for (let round = 0; ; round++) {
      if (signal?.aborted) throw new AbortedError('aborted');
      const [deployment, replicaSets, pods, endpointSlices] = await Promise.all([
        this.api.get({ apiVersion: 'apps/v1', kind: 'Deployment', namespace: identity.namespace, name: identity.name }),
        this.api.listReplicaSets(identity.namespace, identity.selector),
        this.api.listPods(identity.namespace, identity.selector),
        this.api.listEndpointSlices(identity.namespace, identity.name),
      ]);
      const r = evaluateReadiness(
        { deployment: deployment as never, replicaSets, pods, endpointSlices },
        { deployment: identity.name, service: identity.name },
      );
      if (r.ready) return;
      if (round === 0) await onFirstNotReady(r.waitingFor);
      const left = deadline - this.clock.now();
      if (left <= 0) throw new Error(`not ready after ${formatDuration(timeoutMs)}: waiting for ${r.waitingFor.join('; ')}`);
      await this.waitForChange(Math.min(interval, left), signal);
      interval = Math.min(interval * 2, 5000);
    }
  }

  /** Delete what this attempt created, newest first, each by its uid. Returns what could not be deleted. */
  private async cleanup(w: Workload, attempt: Attempt): Promise<string[]> {
    const errors: string[] = [];
    for (const { ref, uid } of [...attempt.created].reverse()) {
      try {
        await this.api.delete(ref, uid);
      } catch (err) {
        errors.push(`${refKey(ref)}: ${errorMessage(err)}`);
      }
    }
    if (attempt.created.length > 0) {
      this.log.info({ workload: workloadKey(w), deleted: attempt.created.map((c) => refKey(c.ref)) }, 'removed the objects of the failed attempt');
    }
    return errors;
  }

  /** Tunnel off: delete every shadow object this workload owns (both modes, keys included) and its status. */
  private async teardown(w: Workload): Promise<ReconcileOutcome> {
    const annotations = w.metadata.annotations ?? {};
    const previous = parseStatus(annotations[TUNNEL_STATUS_ANNOTATION]);
    let identity: ShadowIdentity;
    try {
      identity = shadowIdentity(w.metadata.name, w.metadata.namespace, this.options.defaults.network);
    } catch {
      // Without an identity nothing can have been created under it; only a stale status may remain.
      if (annotations[TUNNEL_STATUS_ANNOTATION] !== undefined) await this.writeStatus(w, null);
      return { state: 'Removed', deleted: [] };
    }
    const deleted: string[] = [];
    for (const ref of shadowObjectRefs(identity)) {
      const existing = await this.api.get(ref);
      const uid = existing?.metadata?.uid;
      if (existing && uid && ownedBy(existing, w.metadata.uid)) {
        await this.api.delete(ref, uid);
        deleted.push(refKey(ref));
      }
    }
    if (annotations[TUNNEL_STATUS_ANNOTATION] !== undefined) await this.writeStatus(w, null);
    if (deleted.length > 0 || previous) {
      this.log.info({ workload: workloadKey(w), deleted }, 'shadow removed: tunnel turned off');
      await this.event(w, 'Normal', EVENT_REASONS.Removed, `Tunnel turned off; removed ${deleted.length} shadow object(s)`);
    }
    return { state: 'Removed', deleted };
  }

  /** Write the status when it changed; record an Event on each phase transition. Throws StatusWriteError. */
  private async setStatus(w: Workload, previous: ShadowStatus | undefined, next: ShadowStatus): Promise<void> {
    const value = formatStatus(next);
    if (w.metadata.annotations?.[TUNNEL_STATUS_ANNOTATION] === value) return;
    await this.writeStatus(w, value);
    if (previous?.phase !== next.phase) {
      const message =
        next.phase === 'Ready'
          ? `Shadow tunnel ready at ${next.endpoint ?? '?'} (${next.mode ?? '?'})`
          : next.phase === 'Pending'
            ? `Creating the shadow tunnel for ${next.endpoint ?? '?'} (${next.mode ?? '?'})`
            : `Shadow tunnel failed: ${next.reason ?? 'unknown reason'}`;
      await this.event(w, next.phase === 'Failed' ? 'Warning' : 'Normal', EVENT_REASONS[next.phase as ShadowPhase], message);
    }
  }

  private async writeStatus(w: Workload, value: string | null): Promise<void> {
    try {
      await this.api.patchAnnotations(workloadRef(w), { [TUNNEL_STATUS_ANNOTATION]: value });
    } catch (err) {
      throw new StatusWriteError(`cannot write ${TUNNEL_STATUS_ANNOTATION} on ${w.kind} ${w.metadata.namespace}/${w.metadata.name}: ${errorMessage(err)}`);
    }
    // Keep the in-memory copy in step, so a later write in the same reconcile compares against what is stored.
    const annotations = { ...(w.metadata.annotations ?? {}) };
    if (value === null) delete annotations[TUNNEL_STATUS_ANNOTATION];
    else annotations[TUNNEL_STATUS_ANNOTATION] = value;
    w.metadata.annotations = annotations;
  }

  /** Events are best effort (as everywhere in Kubernetes): a failure is logged, the status remains the record. */
  private async event(w: Workload, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date(this.clock.now());
    const event: CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${w.metadata.name.slice(0, 200)}.`, namespace: w.metadata.namespace },
      involvedObject: { apiVersion: w.apiVersion, kind: w.kind, name: w.metadata.name, namespace: w.metadata.namespace, uid: w.metadata.uid },
      reason,
      message: message.slice(0, 1024),
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: EVENT_COMPONENT },
      reportingComponent: `ghostwire.dev/${EVENT_COMPONENT}`,
      reportingInstance: this.options.instance ?? EVENT_COMPONENT,
    };
    try {
      await this.api.createEvent(event);
    } catch (err) {
      this.log.warn({ workload: workloadKey(w), reason }, `cannot record event: ${errorMessage(err)}`);
    }
  }
}

export function ownerOf(w: Workload): ShadowOwner {
  return { apiVersion: w.apiVersion, kind: w.kind, name: w.metadata.name, uid: w.metadata.uid };
}

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

// ---------------------------------------------------------------------------------------------------------------
// The work queue.

export interface ControllerOptions {
  reconciler: Pick<ShadowReconciler, 'reconcile'>;
  /** The workload as currently known (informer cache); undefined when it is gone. */
  lookup: (key: string) => Workload | undefined;
  log: ShadowLog;
  concurrency?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

interface KeyState {
  running?: { controller: AbortController; fingerprint: string };
  /** An event arrived while running. */
  dirty: boolean;
  /** ...and it changed the workload's inputs (not just our own status write). */
  changed: boolean;
  failures: number;
  timer?: ReturnType<typeof setTimeout>;
  /** The last attempt failed with these inputs; permanent: it is not retried until they change. */
  failed?: { fingerprint: string; permanent: boolean };
}

/**
 * Inputs that can change what a reconcile does: identity, deletion, the ghostwire.dev/ annotations on the object and
 * on its pod template, and the ports the pod template declares (what the reconciler reads). Our own status
 * annotation and other controllers' annotations (the Deployment controller's revision) are left out, so they never
 * abort a running attempt. metadata.generation is left out too: the API server bumps a Deployment's generation on
 * every annotation change (annotations are copied to its ReplicaSets), our own status write included.
 */
export function workloadFingerprint(w: Workload | undefined): string {
  if (!w) return 'gone';
  const ours = (annotations: Record<string, string> | undefined): Array<[string, string]> =>
    Object.entries(annotations ?? {})
      .filter(([k]) => k.startsWith(ANNOTATION_PREFIX) && k !== TUNNEL_STATUS_ANNOTATION)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const template = w.spec?.template;
  return JSON.stringify([
    w.metadata.uid,
    Boolean(w.metadata.deletionTimestamp),
    ours(w.metadata.annotations),
    ours(template?.metadata?.annotations),
    collectContainerPorts(template?.spec),
  ]);
}

export class ShadowController {
  private readonly states = new Map<string, KeyState>();
  private readonly queue: string[] = [];
  private active = 0;
  private stopped = false;
  private idleWaiters: Array<() => void> = [];
  private readonly concurrency: number;
  private readonly base: number;
  private readonly max: number;

  constructor(private readonly options: ControllerOptions) {
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.base = options.backoffBaseMs ?? 1000;
    this.max = options.backoffMaxMs ?? 300_000;
  }

  /** Something about this workload (or one of its shadow objects) changed. */
  enqueue(key: string): void {
    if (this.stopped) return;
    const state = this.state(key);
    const fingerprint = workloadFingerprint(this.options.lookup(key));
    if (state.running) {
      state.dirty = true;
      // A newer spec makes the running attempt (and its wait) pointless.
      if (fingerprint !== state.running.fingerprint) {
        state.changed = true;
        state.running.controller.abort();
      }
      return;
    }
    // After a failed attempt, an event that changed none of its inputs (our own status write, the deletions of its
    // cleanup, a resync) waits for the backoff retry, or, after a permanent failure, for the workload to change.
    // Otherwise every failure would wake its own retry at once.
    if (state.failed?.fingerprint === fingerprint && (state.timer || state.failed.permanent)) return;
    if (state.timer) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    if (!this.queue.includes(key)) this.queue.push(key);
    this.pump();
  }

  /** Resolves when nothing is queued or running (retry timers may still be pending). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Retry timers currently pending (for tests and metrics). */
  pendingRetries(): number {
    return [...this.states.values()].filter((s) => s.timer !== undefined).length;
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.states.values()) {
      if (s.timer) clearTimeout(s.timer);
      s.running?.controller.abort();
    }
    this.queue.length = 0;
  }

  private state(key: string): KeyState {
    let s = this.states.get(key);
    if (!s) {
      s = { dirty: false, changed: false, failures: 0 };
      this.states.set(key, s);
    }
    return s;
  }

  private pump(): void {
    while (!this.stopped && this.active < this.concurrency && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.active++;
      void this.run(key).finally(() => {
        this.active--;
        this.pump();
        if (this.queue.length === 0 && this.active === 0) {
          const waiters = this.idleWaiters;
          this.idleWaiters = [];
          for (const w of waiters) w();
        }
      });
    }
  }

  private backoff(failures: number): number {
    return Math.min(this.max, this.base * 2 ** Math.max(0, failures - 1));
  }

  private scheduleRetry(key: string, state: KeyState, why: string): void {
    state.failures++;
    const delay = this.backoff(state.failures);
    this.options.log.warn({ workload: key, retryInMs: delay, failures: state.failures }, `will retry: ${why}`);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      this.enqueue(key);
    }, delay);
  }

  private async run(key: string): Promise<void> {
    const state = this.state(key);
    const workload = this.options.lookup(key);
    if (!workload) {
      state.failures = 0;
      state.failed = undefined;
      return;
    }
    const controller = new AbortController();
    const fingerprint = workloadFingerprint(workload);
    state.running = { controller, fingerprint };
    state.dirty = false;
    state.changed = false;
    // Reconcile a copy: the reconciler updates annotations in place as it writes them.
    const copy: Workload = { ...workload, metadata: { ...workload.metadata, annotations: { ...(workload.metadata.annotations ?? {}) } } };
    try {
      const outcome = await this.options.reconciler.reconcile(copy, controller.signal);
      if (outcome.state === 'Failed') state.failed = { fingerprint, permanent: !outcome.retry };
      else if (outcome.state !== 'Aborted') state.failed = undefined;
      if (outcome.state === 'Failed' && outcome.retry) this.scheduleRetry(key, state, outcome.reason);
      else if (outcome.state !== 'Aborted') state.failures = 0;
    } catch (err) {
      // Status write failures and unexpected API errors: never swallowed, retried with backoff.
      this.options.log.error({ workload: key }, `reconcile error: ${errorMessage(err)}`);
      state.failed = { fingerprint, permanent: false };
      this.scheduleRetry(key, state, errorMessage(err));
    } finally {
      state.running = undefined;
    }
    if (this.stopped || !state.dirty) return;
    // New inputs run now, even over a pending retry or a permanent failure; other events (our own status write,
    // shadow pods moving) run once more, unless the attempt failed: then the backoff retry (or, for a permanent
    // failure, the next change) comes first.
    if (state.changed && state.timer) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    if (state.changed || (!state.timer && !state.failed?.permanent)) {
      state.dirty = false;
      state.changed = false;
      if (!this.queue.includes(key)) this.queue.push(key);
    }
  }
}
