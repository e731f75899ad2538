// One reconcile of one workload's shadow: render, preflight (never overwrite a foreign object), keys, server-side
// apply, wait for readiness, status annotation and Events; on failure, remove exactly what this attempt created.
import type { Defaults } from '../config/defaults.js';
import { formatFieldErrors } from '../config/errors.js';
import { ANNOTATION_PREFIX, TUNNEL_STATUS_ANNOTATION } from '../config/options.js';
import { type Resolved, resolveConfig } from '../config/resolve.js';
import { formatDuration } from '../config/validate.js';
import { type ObjectRef, refKey } from '../kube/objects.js';
import { sleep } from '../util/sleep.js';
import {
  AbortedError,
  type ApiObject,
  type Clock,
  EVENT_REASONS,
  PermanentError,
  type ShadowApi,
  type ShadowLog,
  type Workload,
  errorMessage,
  isShadowObject,
  ownedBy,
  ownerOf,
  systemClock,
  workloadKey,
  workloadRef,
} from './api.js';
import { type ShadowIdentity, shadowIdentity } from './identity.js';
import { checkKeysSecret, wireGuardKeysSecret } from './keys-secret.js';
import { type ShadowPlan, ShadowRenderError, planShadow } from './manifests.js';
import { refOf, shadowObjectRefs } from './object-refs.js';
import { collectContainerPorts } from './ports.js';
import { evaluateReadiness } from './readiness.js';
import type { ScopeVerdict } from './scope.js';
import { type ShadowStatus, parseStatus } from './status.js';
import { StatusWriter } from './status-writer.js';
import { type WireGuardKeyPair, generateWireGuardKeyPair } from './wireguard.js';

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
  /** Where the controller may act (see scope.ts); undefined: everywhere (tests). */
  scope?: (namespace: string) => ScopeVerdict;
}

export type ReconcileOutcome =
  | { state: 'Ready'; endpoint: string }
  | { state: 'Removed'; deleted: string[] }
  | { state: 'Skipped'; reason: string }
  | { state: 'Aborted' }
  | { state: 'Failed'; reason: string; retry: boolean };

const TUNNEL_OPTION_KEYS = new Set(['tunnel', 'tunnelPorts', 'fullMesh', 'tunnelTimeout'].map((k) => ANNOTATION_PREFIX + k));

/** The default wait between readiness checks: a plain sleep that rejects once the attempt is aborted. */
async function abortableWait(ms: number, signal?: AbortSignal): Promise<void> {
  await sleep(ms, signal);
  if (signal?.aborted) throw new AbortedError('aborted');
}

interface Attempt {
  /**
   * Objects this attempt created (they did not exist before it), or took over from an abandoned attempt, with their
   * uid, in creation order.
   */
  created: Array<{ ref: ObjectRef; uid: string }>;
}

export class ShadowReconciler {
  private readonly api: ShadowApi;
  private readonly log: ShadowLog;
  private readonly clock: Clock;
  private readonly waitForChange: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly keygen: () => WireGuardKeyPair;
  private readonly status: StatusWriter;
  /**
   * Objects created by attempts that were abandoned (the workload's inputs changed mid-attempt), by workload uid. The
   * next attempt takes them over as its own: a failure removes them too, instead of treating them as pre-existing.
   */
  private readonly abandoned = new Map<string, Attempt['created']>();

  constructor(private readonly options: ReconcilerOptions) {
    this.api = options.api;
    this.log = options.log;
    this.clock = options.clock ?? systemClock;
    this.waitForChange = options.waitForChange ?? abortableWait;
    this.keygen = options.keygen ?? generateWireGuardKeyPair;
    this.status = new StatusWriter({ api: this.api, log: this.log, clock: this.clock, instance: options.instance });
  }

  /** One reconcile. Throws StatusWriteError (and only that kind of error) when the status could not be written. */
  async reconcile(cached: Workload, signal?: AbortSignal): Promise<ReconcileOutcome> {
    // Outside the scope nothing is read or written, however much the credentials allow.
    const verdict = this.options.scope?.(cached.metadata.namespace) ?? { inScope: true };
    if (!verdict.inScope && !verdict.loud) return { state: 'Skipped', reason: verdict.reason };
    const w = await this.readLive(cached);
    if ('state' in w) return w;
    const resolved = resolveConfig(this.options.defaults, [w.metadata.annotations, w.spec?.template?.metadata?.annotations]);
    if (!resolved.config.tunnel) {
      this.abandoned.delete(w.metadata.uid);
      return this.teardown(w);
    }
    const previous = parseStatus(w.metadata.annotations?.[TUNNEL_STATUS_ANNOTATION]);
    if (!verdict.inScope) return this.refuse(w, previous, verdict.reason);
    const plan = await this.plan(w, resolved, previous);
    if ('state' in plan) return plan;
    return this.attempt(w, plan, resolved.config.tunnelTimeoutMs, previous, signal);
  }

  /**
   * The workload as stored: an informer cache may not show the status written a moment ago yet, and deciding on a
   * stale status would repeat a write and its Event.
   */
  private async readLive(cached: Workload): Promise<Workload | ReconcileOutcome> {
    const deleting: ReconcileOutcome = { state: 'Skipped', reason: 'being deleted (garbage collection removes the shadow)' };
    if (isShadowObject(cached)) return { state: 'Skipped', reason: 'a ghostwire shadow object' };
    if (cached.metadata.deletionTimestamp) return deleting;
    const live = await this.api.get(workloadRef(cached));
    if (!live || live.metadata?.uid !== cached.metadata.uid) {
      this.abandoned.delete(cached.metadata.uid);
      return { state: 'Skipped', reason: 'the workload is gone' };
    }
    const w: Workload = { ...cached, metadata: live.metadata as Workload['metadata'], spec: (live as { spec?: Workload['spec'] }).spec };
    return w.metadata.deletionTimestamp ? deleting : w;
  }

  /** Render the shadow; a configuration that cannot be rendered fails for good (until the workload changes). */
  private async plan(w: Workload, resolved: Resolved, previous: ShadowStatus | undefined): Promise<ShadowPlan | ReconcileOutcome> {
    const tunnelErrors = resolved.errors.filter((e) => TUNNEL_OPTION_KEYS.has(e.field));
    try {
      if (tunnelErrors.length > 0) throw new ShadowRenderError([formatFieldErrors(tunnelErrors)]);
      return planShadow(
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
      await this.status.set(w, previous, { phase: 'Failed', reason });
      return { state: 'Failed', reason, retry: false };
    }
  }

  /** Apply, remove the other mode's objects, wait for readiness; on failure remove what this attempt created. */
  private async attempt(w: Workload, plan: ShadowPlan, timeoutMs: number, previous: ShadowStatus | undefined, signal?: AbortSignal): Promise<ReconcileOutcome> {
    const base: ShadowStatus = { phase: 'Pending', mode: plan.mode, endpoint: plan.identity.host, hash: plan.hash };
    let current = previous;
    if (!(previous?.phase === 'Ready' && previous.hash === plan.hash)) {
      await this.status.set(w, current, { ...base, phase: 'Pending', reason: 'applying shadow objects' });
      current = { ...base, phase: 'Pending' };
    }
    const attempt: Attempt = { created: [...(this.abandoned.get(w.metadata.uid) ?? [])] };
    try {
      await this.applyAll(w, plan, attempt);
      await this.removeOtherMode(w, plan);
      await this.waitReady(plan, timeoutMs, signal, async (waitingFor) => {
        // Ready before, not ready now (a pod died, an endpoint went away): say so while waiting.
        if (current?.phase === 'Ready') {
          await this.status.set(w, current, { ...base, phase: 'Pending', reason: `waiting for ${waitingFor.join('; ')}` });
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
      await this.status.set(w, current, { ...base, phase: 'Failed', reason });
      return { state: 'Failed', reason, retry };
    }
    this.abandoned.delete(w.metadata.uid);
    await this.status.set(w, current, { ...base, phase: 'Ready' });
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
    const ref: ObjectRef = { apiVersion: 'v1', kind: 'Secret', namespace: identity.namespace, name: identity.keysSecretName };
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
    const deleted = await this.removeOwned(w);
    if (annotations[TUNNEL_STATUS_ANNOTATION] !== undefined) await this.status.write(w, null);
    // Without an identity nothing can have been created under it; only a stale status may have remained.
    if (deleted === undefined) return { state: 'Removed', deleted: [] };
    if (deleted.length > 0 || previous) {
      this.log.info({ workload: workloadKey(w), deleted }, 'shadow removed: tunnel turned off');
      await this.status.event(w, 'Normal', EVENT_REASONS.Removed, `Tunnel turned off; removed ${deleted.length} shadow object(s)`);
    }
    return { state: 'Removed', deleted };
  }

  /**
   * The namespace is served but has not opted in: no shadow. What this workload owns there goes away (an opt-in
   * taken back takes the exposure with it), and the status and a Warning Event say why.
   */
  private async refuse(w: Workload, previous: ShadowStatus | undefined, reason: string): Promise<ReconcileOutcome> {
    this.abandoned.delete(w.metadata.uid);
    const deleted = (await this.removeOwned(w)) ?? [];
    this.log.warn({ workload: workloadKey(w), deleted }, `no shadow: ${reason}`);
    await this.status.set(w, previous, { phase: 'Failed', reason });
    return { state: 'Skipped', reason };
  }

  /** Delete every shadow object this workload owns, each by its uid: what was deleted; undefined: no identity. */
  private async removeOwned(w: Workload): Promise<string[] | undefined> {
    let identity: ShadowIdentity;
    try {
      identity = shadowIdentity(w.metadata.name, w.metadata.namespace, this.options.defaults.network);
    } catch {
      return undefined;
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
    return deleted;
  }
}
