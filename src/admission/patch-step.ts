// Steps 5 and 6 of mutate(): the desired parts (containers, volume, status) for the effective config, and the
// minimal JSON patch from the admitted template to the desired one. Both are memoised: the parts by config hash,
// the patch of a first injection by config hash and template shape.
import { POLICY_INJECTED_ANNOTATION, STATUS_ANNOTATION, TUNNEL_ANNOTATIONS, configHash } from '../config/index.js';
import { type DesiredParts, OWN_CONTAINERS, SHARED_VOLUME, renderParts } from '../inject/render.js';
import { annotationOps, planSpec, specOps } from '../inject/template.js';
import type { PatchOp } from '../kube/patch.js';
import type { Configured } from './configure.js';
import { BoundedCache, type MutationMemo, memoised, partsBytes, patchBytes } from './memo.js';
import { rememberJson } from './response.js';
import type { Subject } from './subject.js';

export interface Desired {
  hash: string;
  parts: DesiredParts;
}

export function desiredParts(c: Configured, version: string, memo: MutationMemo | undefined): Desired {
  const hashKey = BoundedCache.key(`${c.signature}\u0000${c.config.tunnel}\u0000${JSON.stringify(c.tunnel.set)}`);
  const hash = memoised(memo?.hashes, hashKey, () => configHash(c.config, c.tunnel.set), (h) => 24 + 2 * h.length);
  const parts = memoised(
    memo?.parts,
    hash,
    () => {
      const p = renderParts(c.config, hash, version);
      // Shared between admissions from now on: serialise once (see response.ts).
      if (memo) for (const part of [p.init, p.watcher, p.volume]) rememberJson(part);
      return p;
    },
    partsBytes,
  );
  return { hash, parts };
}

/** Ops that turn the template (and, for workloads, the object's metadata) into the desired state. */
function buildPatch(s: Subject, c: Configured, parts: DesiredParts, remove: readonly string[]): PatchOp[] {
  const spec = s.template.spec ?? {};
  const status = parts.statusJson;
  return [
    ...specOps(`${s.pointer}/spec`, spec, planSpec(spec, parts, c.config.initFirst, c.config.nativeSidecar)),
    ...annotationOps(`${s.pointer}/metadata`, s.template.metadata, { ...c.tunnel.set, [STATUS_ANNOTATION]: status }, remove),
    // The admission policies' note is theirs: the webhook injecting drops it (after a switch of injector.mode).
    ...(s.isPod ? [] : annotationOps('/metadata', s.object.metadata, { [STATUS_ANNOTATION]: status }, [POLICY_INJECTED_ANNOTATION])),
  ];
}

/**
 * Everything a first injection's patch depends on besides the config: where the template is, which arrays and
 * metadata maps exist and how long the arrays are, and the current values of the annotations we set or remove.
 * Undefined when the template already holds ghostwire parts (those patches depend on the parts themselves).
 */
function firstInjectionShape(s: Subject, keys: readonly string[]): string | undefined {
  const spec = s.template.spec ?? {};
  const own = (items: ReadonlyArray<{ name: string }> | undefined) => items?.some((i) => OWN_CONTAINERS.has(i?.name) || i?.name === SHARED_VOLUME) ?? false;
  if (own(spec.initContainers) || own(spec.containers) || own(spec.volumes)) return undefined;
  const len = (a: unknown[] | null | undefined) => (a == null ? '-' : String(a.length));
  const ann = s.template.metadata?.annotations;
  const current = ann == null ? '' : keys.map((k) => (k in ann ? `${k}=${ann[k]}` : '')).join('\u0001');
  const objAnn = s.object.metadata?.annotations;
  return [
    s.pointer, s.isPod ? 'pod' : 'workload', len(spec.initContainers), len(spec.containers), len(spec.volumes),
    s.template.metadata == null ? 'no-meta' : ann == null ? 'no-ann' : current,
    s.isPod ? '' : s.object.metadata == null ? 'no-meta' : objAnn == null ? 'no-ann' : `${objAnn[STATUS_ANNOTATION] ?? ''}\u0001${POLICY_INJECTED_ANNOTATION in objAnn}`,
  ].join('\u0002');
}

export function patchFor(s: Subject, c: Configured, d: Desired, memo: MutationMemo | undefined): PatchOp[] {
  const remove = [...c.tunnel.remove, POLICY_INJECTED_ANNOTATION];
  const build = () => buildPatch(s, c, d.parts, remove);
  if (!memo || s.previous !== undefined) return build();
  const shape = firstInjectionShape(s, [...Object.keys(c.tunnel.set), STATUS_ANNOTATION, ...remove]);
  if (shape === undefined) return build();
  return memoised(memo.patches, BoundedCache.key(`${d.hash}\u0000${shape}`), build, patchBytes);
}

/** Ops that remove everything ghostwire added (the workload was turned off after an injection). */
export function removalPatch(s: Subject): PatchOp[] {
  const spec = s.template.spec ?? {};
  return [
    ...specOps(`${s.pointer}/spec`, spec, planSpec(spec, null, false, false)),
    ...annotationOps(`${s.pointer}/metadata`, s.template.metadata, {}, [STATUS_ANNOTATION, POLICY_INJECTED_ANNOTATION, ...TUNNEL_ANNOTATIONS]),
    ...(s.isPod ? [] : annotationOps('/metadata', s.object.metadata, {}, [STATUS_ANNOTATION, POLICY_INJECTED_ANNOTATION])),
  ];
}
