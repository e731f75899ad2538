// The pure admission pipeline: request -> target -> effective config -> desired template -> patch -> outcome.
// No I/O, no clock, no logger: the webhook and `ghostwire inject` both call mutate() and get the same answer.
import {
  type Defaults,
  type FieldError,
  type InjectConfig,
  type TunnelPort,
  STATUS_ANNOTATION,
  TUNNEL_CLIENT_COMMAND_ANNOTATION,
  TUNNEL_ENDPOINT_ANNOTATION,
  TUNNEL_PRE_EXEC_ANNOTATION,
  configHash,
  formatFieldError,
  resolveConfig,
  resolveEnabled,
} from '../config/index.js';
import { OWN_CONTAINERS, SHARED_VOLUME as SHARED_VOLUME_NAME, parseStatusAnnotation, renderParts } from '../inject/render.js';
import { collectContainerPorts } from '../shadow/ports.js';
import { annotationOps, planSpec, specOps } from '../inject/template.js';
import { tunnelAnnotations } from '../shadow/annotations.js';
import { type MutationMemo, rememberJson } from './memo.js';
import { selectTarget } from './target.js';
import type { AdmissionRequest, KubeObject, ObjectMeta, PatchOp, PodTemplate } from './types.js';

const TUNNEL_KINDS: ReadonlySet<string> = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

export const SYSTEM_NAMESPACES: ReadonlySet<string> = new Set(['kube-system', 'kube-public', 'kube-node-lease']);

/** Why an object was let through unchanged. Stable codes: metrics, audit annotations and Events use them. */
export type SkipReason =
  | 'operation'
  | 'pod-update'
  | 'no-object'
  | 'unsupported-kind'
  | 'no-pod-template'
  | 'workload-ref'
  | 'system-namespace'
  | 'own-namespace'
  | 'not-enabled'
  | 'injected-by-owner'
  | 'controller-owned'
  | 'host-network'
  | 'already-injected';

export type Result = 'injected' | 'updated' | 'removed' | 'skipped' | 'denied';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export interface EventIntent {
  type: 'Normal' | 'Warning';
  reason: 'GhostwireInjected' | 'GhostwireSkipped';
  message: string;
  regarding: ObjectRef;
}

export interface MutationOutcome {
  allowed: boolean;
  result: Result;
  /** A SkipReason, 'invalid-annotations' for denials, or the result itself. */
  reason: string;
  patch: PatchOp[];
  warnings: string[];
  auditAnnotations: Record<string, string>;
  denial?: { code: number; message: string };
  event?: EventIntent;
  configHash?: string;
}

export interface MutateContext {
  defaults: Defaults;
  /** The webhook's own namespace: never injected, so a broken webhook cannot lock itself out. */
  ownNamespace?: string;
  version: string;
  /** Signs the tunnel's upgrade-path prefix (see docs/shadow-tunnel.md). */
  tunnelKey: string;
  /** Optional memo bound to this context (same defaults, version and key); see memo.ts. */
  memo?: MutationMemo;
}

const TUNNEL_ANNOTATIONS = [TUNNEL_ENDPOINT_ANNOTATION, TUNNEL_CLIENT_COMMAND_ANNOTATION, TUNNEL_PRE_EXEC_ANNOTATION];

function skipped(reason: SkipReason, extra: Partial<MutationOutcome> = {}): MutationOutcome {
  return {
    allowed: true,
    result: 'skipped',
    reason,
    patch: [],
    warnings: [],
    auditAnnotations: { injected: 'false', 'skip-reason': reason },
    ...extra,
  };
}

function apiVersionOf(group: string, version: string): string {
  return group === '' ? version : `${group}/${version}`;
}

function describeObject(kind: string, namespace: string, meta: ObjectMeta): string {
  return `${kind} ${namespace}/${meta.name ?? meta.generateName ?? '(unnamed)'}`;
}

/** Who an Event should point at: the object itself, or for a Pod its controller (which has a UID already). */
function eventTarget(req: AdmissionRequest, object: KubeObject, namespace: string, isPod: boolean): ObjectRef {
  const meta = object.metadata ?? {};
  const owner = meta.ownerReferences?.find((o) => o.controller) ?? meta.ownerReferences?.[0];
  if (isPod && !meta.name && owner) {
    return { apiVersion: owner.apiVersion, kind: owner.kind, namespace, name: owner.name, uid: owner.uid };
  }
  const ref: ObjectRef = {
    apiVersion: object.apiVersion ?? apiVersionOf(req.kind.group, req.kind.version),
    kind: req.kind.kind,
    namespace,
    name: meta.name ?? req.name ?? '',
  };
  if (meta.uid) ref.uid = meta.uid;
  return ref;
}

/** Ports of the workload's own containers: ghostwire's watcher port must never become a tunnel port. */
function workloadPorts(template: PodTemplate): TunnelPort[] {
  const spec = template.spec ?? {};
  const own = (c: { name: string }) => !OWN_CONTAINERS.has(c.name);
  return collectContainerPorts({ containers: (spec.containers ?? []).filter(own), initContainers: (spec.initContainers ?? []).filter(own) } as never);
}

/**
 * Everything a first injection's patch depends on besides the config: where the template is, which arrays and
 * metadata maps exist and how long the arrays are, and the current values of the annotations we set or remove.
 * Undefined when the template already holds ghostwire parts (those patches depend on the parts themselves).
 */
function firstInjectionShape(
  pointer: string,
  template: PodTemplate,
  objectMeta: ObjectMeta | undefined,
  isPod: boolean,
  keys: readonly string[],
): string | undefined {
  const spec = template.spec ?? {};
  const own = (items: ReadonlyArray<{ name: string }> | undefined) => items?.some((i) => OWN_CONTAINERS.has(i?.name) || i?.name === SHARED_VOLUME_NAME) ?? false;
  if (own(spec.initContainers) || own(spec.containers) || own(spec.volumes)) return undefined;
  const len = (a: unknown[] | null | undefined) => (a == null ? '-' : String(a.length));
  const ann = template.metadata?.annotations;
  const current = ann == null ? '' : keys.map((k) => (k in ann ? `${k}=${ann[k]}` : '')).join('\u0001');
  const objAnn = objectMeta?.annotations;
  return [
    pointer, isPod ? 'pod' : 'workload', len(spec.initContainers), len(spec.containers), len(spec.volumes),
    template.metadata == null ? 'no-meta' : ann == null ? 'no-ann' : current,
    isPod ? '' : objectMeta == null ? 'no-meta' : objAnn == null ? 'no-ann' : objAnn[STATUS_ANNOTATION] ?? '',
  ].join('\u0002');
}

/** The ghostwire.dev/* annotations of every layer: all that config resolution reads. JSON, so no value can forge
 * a layer or key boundary (annotation values are arbitrary strings). */
function annotationSignature(layers: ReadonlyArray<Record<string, string> | undefined>): string {
  return JSON.stringify(
    layers.map((layer) => {
      const own: string[] = [];
      if (layer) for (const k in layer) if (k.startsWith('ghostwire.dev/')) own.push(k, layer[k] as string);
      return own;
    }),
  );
}

function renderMemoised(config: InjectConfig, hash: string, ctx: MutateContext) {
  const parts = renderParts(config, hash, ctx.version);
  if (ctx.memo) {
    for (const p of [parts.init, parts.watcher, parts.volume]) rememberJson(p);
    ctx.memo.parts.set(hash, parts);
  }
  return parts;
}

export function mutate(req: AdmissionRequest, ctx: MutateContext): MutationOutcome {
  if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return skipped('operation');
  const object = req.object;
  if (!object) return skipped('no-object');
  const namespace = req.namespace || object.metadata?.namespace || 'default';
  const target = selectTarget(req.kind.group, req.kind.kind, object);
  const objectLayer = object.metadata?.annotations;

  if (!target.found) {
    if (target.reason === 'workload-ref' && resolveEnabled([objectLayer]).enabled) {
      return skipped('workload-ref', {
        warnings: [`ghostwire: ${target.detail}`],
        event: { type: 'Warning', reason: 'GhostwireSkipped', message: target.detail, regarding: eventTarget(req, object, namespace, false) },
      });
    }
    return skipped(target.reason);
  }

  const { template, objectMeta, isPod } = target;
  // A Pod's containers and volumes are immutable once created: any patch would get the update rejected.
  if (isPod && req.operation === 'UPDATE') return skipped('pod-update');
  // A workload made by a controller (a Deployment's ReplicaSet, a CronJob's Job) is injected through its owner.
  // Changing its template would make the owner stop recognising it: a Deployment then creates ReplicaSets forever.
  if (!isPod && (objectMeta.ownerReferences ?? []).some((o) => o?.controller === true)) return skipped('controller-owned');
  const layers = isPod ? [template.metadata?.annotations] : [objectLayer, template.metadata?.annotations];
  const enabled = resolveEnabled(layers);
  const what = describeObject(req.kind.kind, namespace, objectMeta);

  for (const [reason, blocked] of [
    ['system-namespace', SYSTEM_NAMESPACES.has(namespace)],
    ['own-namespace', ctx.ownNamespace !== undefined && namespace === ctx.ownNamespace],
  ] as const) {
    if (!blocked) continue;
    if (!enabled.enabled) return skipped(reason);
    const message = `ghostwire does not inject in namespace ${namespace} (${reason}); ${what} runs without traffic switching`;
    return skipped(reason, {
      warnings: [message],
      event: { type: 'Warning', reason: 'GhostwireSkipped', message, regarding: eventTarget(req, object, namespace, isPod) },
    });
  }

  const spec = template.spec ?? {};
  // In the host's network namespace the chain and the jump would rewrite the node's traffic and outlive the pod.
  if (spec.hostNetwork === true && enabled.enabled) {
    const message = `ghostwire does not inject pods with hostNetwork: true: its rules would apply to the whole node; ${what} runs without traffic switching`;
    return skipped('host-network', {
      warnings: [message],
      event: { type: 'Warning', reason: 'GhostwireSkipped', message, regarding: eventTarget(req, object, namespace, isPod) },
    });
  }
  const previous = parseStatusAnnotation(template.metadata?.annotations?.[STATUS_ANNOTATION]);
  const templateMetaPath = `${target.pointer}/metadata`;

  // Pods stamped out by an injected workload were rendered with the workload's full config, which may live
  // in annotations the pod does not carry (e.g. `enabled` on the Deployment): never re-decide for them.
  if (isPod && previous !== undefined && (objectMeta.ownerReferences ?? []).length > 0) return skipped('injected-by-owner');

  if (enabled.error && ctx.defaults.invalidAnnotations === 'warn') {
    const state = parseStatusAnnotation(template.metadata?.annotations?.[STATUS_ANNOTATION]) ? 'injected as it is' : 'off';
    return skipped('not-enabled', { warnings: [`ghostwire: ${formatFieldError(enabled.error)}; the workload stays ${state}`] });
  }
  const errors: FieldError[] = enabled.error ? [enabled.error] : [];
  if (!enabled.enabled && !enabled.error) {
    if (previous === undefined) return skipped('not-enabled');
    // Turned off after an injection: converge back to the workload's own template.
    const plan = planSpec(spec, null, false, false);
    const patch = [
      ...specOps(`${target.pointer}/spec`, spec, plan),
      ...annotationOps(templateMetaPath, template.metadata, {}, [STATUS_ANNOTATION, ...TUNNEL_ANNOTATIONS]),
      ...(isPod ? [] : annotationOps('/metadata', object.metadata, {}, [STATUS_ANNOTATION])),
    ];
    return {
      allowed: true,
      result: 'removed',
      reason: 'removed',
      patch,
      warnings: [],
      auditAnnotations: { injected: 'false', 'skip-reason': 'not-enabled', removed: 'true' },
    };
  }

  const signature = ctx.memo ? annotationSignature(layers) : '';
  const resolved = ctx.memo?.resolved.get(signature) ?? (ctx.memo ? ctx.memo.resolved.set(signature, resolveConfig(ctx.defaults, layers)) : resolveConfig(ctx.defaults, layers));
  errors.push(...resolved.errors);
  // Copied: the memoised config is shared between admissions.
  const config: InjectConfig = { ...resolved.config };
  const warnings = resolved.notices.map((n) => `ghostwire: ${n}`);

  // The shadow controller keeps shadows for Deployments, StatefulSets and DaemonSets; elsewhere a tunnel endpoint
  // would point at a shadow that never exists.
  if (config.tunnel && !TUNNEL_KINDS.has(req.kind.kind)) {
    warnings.push(`ghostwire: tunnels are kept for Deployments, StatefulSets and DaemonSets; ${req.kind.kind} ${namespace}/${objectMeta.name ?? ''} gets no tunnel annotations`);
    config.tunnel = false;
  }
  // Tunnel annotations: computed from the same effective config; a tunnel that cannot be rendered is a config error.
  const tunnel = tunnelAnnotations({
    workloadName: objectMeta.name ?? '',
    namespace,
    config,
    network: ctx.defaults.network,
    // Ports matter only to a tunnel; skip collecting them for the common case.
    containerPorts: config.tunnel ? workloadPorts(template) : [],
    tunnelKey: ctx.tunnelKey,
  });
  const tunnelErrors = tunnel.errors.map((e) => `ghostwire.dev/tunnel: ${e}`);

  if (errors.length > 0 || tunnelErrors.length > 0) {
    const messages = [...errors.map(formatFieldError), ...tunnelErrors];
    if (ctx.defaults.invalidAnnotations === 'deny') {
      return {
        allowed: false,
        result: 'denied',
        reason: 'invalid-annotations',
        patch: [],
        warnings,
        auditAnnotations: { injected: 'false', 'skip-reason': 'invalid-annotations' },
        denial: { code: 400, message: `ghostwire: invalid configuration for ${what}: ${messages.join('; ')}` },
      };
    }
    // invalidAnnotations: warn -> each bad key fell back to its default; say so.
    for (const m of messages) warnings.push(`ghostwire: ${m}; using the default instead`);
  }
  const tunnelSet = tunnelErrors.length > 0 ? {} : tunnel.set;
  const tunnelRemove = tunnelErrors.length > 0 ? TUNNEL_ANNOTATIONS : tunnel.remove;
  if (tunnelErrors.length > 0) config.tunnel = false;

  const hashKey = `${signature}\u0000${config.tunnel}\u0000${JSON.stringify(tunnelSet)}`;
  const hash = ctx.memo?.hashes.get(hashKey) ?? ctx.memo?.hashes.set(hashKey, configHash(config, tunnelSet)) ?? configHash(config, tunnelSet);
  const parts = ctx.memo?.parts.get(hash) ?? renderMemoised(config, hash, ctx);
  const status = parts.statusJson;
  const templateSet = { ...tunnelSet, [STATUS_ANNOTATION]: status };
  const build = (): PatchOp[] => [
    ...specOps(`${target.pointer}/spec`, spec, planSpec(spec, parts, config.initFirst, config.nativeSidecar)),
    ...annotationOps(templateMetaPath, template.metadata, templateSet, tunnelRemove),
    ...(isPod ? [] : annotationOps('/metadata', object.metadata, { [STATUS_ANNOTATION]: status }, [])),
  ];
  // A first injection's patch depends only on the config and the template's shape: memoise it by both.
  const shape = ctx.memo && previous === undefined ? firstInjectionShape(target.pointer, template, object.metadata, isPod, [...Object.keys(templateSet), ...tunnelRemove]) : undefined;
  const memoKey = shape === undefined ? undefined : `${hash}\u0000${shape}`;
  const patch = (memoKey !== undefined ? ctx.memo!.patches.get(memoKey) : undefined) ?? (memoKey !== undefined ? ctx.memo!.patches.set(memoKey, build()) : build());
  const audit = { injected: 'true', 'config-hash': hash };
  if (patch.length === 0) {
    return { ...skipped('already-injected', { warnings, configHash: hash }), auditAnnotations: { ...audit, 'skip-reason': 'already-injected' } };
  }
  const result: Result = previous === undefined ? 'injected' : 'updated';
  const sidecar = config.nativeSidecar ? 'native sidecar' : 'sidecar';
  return {
    allowed: true,
    result,
    reason: result,
    patch,
    warnings,
    auditAnnotations: audit,
    configHash: hash,
    event: {
      type: 'Normal',
      reason: 'GhostwireInjected',
      message: `${result === 'injected' ? 'Injected' : 'Updated'} init container ghostwire-init and ${sidecar} ghostwire-watcher (config ${hash}${config.tunnel ? ', tunnel' : ''})`,
      regarding: eventTarget(req, object, namespace, isPod),
    },
  };
}
