// Desired pod template -> RFC 6902 operations, built only from the part that changes (never a clone-and-diff
// of the whole object). Ghostwire's own containers and volume are replaced by name, so re-entry converges.
import { quantityValue } from '../config/validate.js';
import type { Container, ObjectMeta, PodSpec, Volume } from '../kube/objects.js';
import { type PatchOp, escapePointer } from '../kube/patch.js';
import { type DesiredParts, INIT_CONTAINER, OWN_CONTAINERS, SHARED_VOLUME, WATCHER_CONTAINER } from './render.js';

const isOwnContainer = (c: Container): boolean => OWN_CONTAINERS.has(c?.name);
const isOwnVolume = (v: Volume): boolean => v?.name === SHARED_VOLUME;

/**
 * True when `actual` carries every field of `desired` with the same value. The API server adds defaults
 * (terminationMessagePath, probe thresholds, fieldRef apiVersion, ...) to what we injected; those extra
 * fields must not make an injected template look different on re-invocation.
 */
export function covers(actual: unknown, desired: unknown, quantities = false): boolean {
  if (desired === null || typeof desired !== 'object') {
    // The API server stores no empty strings (omitempty): an absent field is our "".
    if (desired === '' && actual === undefined) return true;
    // ...and writes quantities canonically ("0.5" is stored as "500m"): compare resources by value.
    if (quantities && typeof desired === 'string' && typeof actual === 'string') {
      const a = quantityValue(actual);
      return a !== undefined && a === quantityValue(desired);
    }
    return actual === desired;
  }
  if (Array.isArray(desired)) {
    if (!Array.isArray(actual)) return false;
    // Lists of objects (volumeMounts, env, ports) may gain entries from other admission plugins, e.g. the
    // ServiceAccount plugin adds the API token mount to every container: ours must be there, in order.
    if (desired.some((d) => typeof d === 'object' && d !== null)) {
      let from = 0;
      return desired.every((d) => {
        const at = actual.findIndex((a, i) => i >= from && covers(a, d, quantities));
        from = at + 1;
        return at !== -1;
      });
    }
    return actual.length === desired.length && desired.every((d, i) => covers(actual[i], d, quantities));
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
  const a = actual as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) => covers(a[k], v, quantities || k === 'resources'));
}

/** Reuse the existing item when it already satisfies the desired one, so unchanged items produce no ops. */
function settle<T extends { name: string }>(current: readonly T[] | undefined, desired: T): T {
  const existing = current?.find((c) => c?.name === desired.name);
  return existing !== undefined && covers(existing, desired) ? existing : desired;
}

export interface SpecPlan {
  initContainers: Container[];
  containers: Container[];
  volumes: Volume[];
}

/** The pod spec's three arrays as they should be; `parts` null means "remove everything ghostwire added". */
export function planSpec(spec: PodSpec, parts: DesiredParts | null, initFirst: boolean, nativeSidecar: boolean): SpecPlan {
  const otherInit = (spec.initContainers ?? []).filter((c) => !isOwnContainer(c));
  const otherMain = (spec.containers ?? []).filter((c) => !isOwnContainer(c));
  const otherVolumes = (spec.volumes ?? []).filter((v) => !isOwnVolume(v));
  if (parts === null) return { initContainers: otherInit, containers: otherMain, volumes: otherVolumes };
  const init = settle(spec.initContainers, parts.init);
  // A native sidecar is an init container that keeps running: it must start after ghostwire-init has
  // programmed the chain, and before the app containers.
  const watcher = settle(nativeSidecar ? spec.initContainers : spec.containers, parts.watcher);
  const ownInit = nativeSidecar ? [init, watcher] : [init];
  return {
    // Init containers run in order, so ours keep their place (last, or first) even if others were added since.
    initContainers: initFirst ? [...ownInit, ...otherInit] : [...otherInit, ...ownInit],
    // Order does not matter here: an existing watcher or volume stays where it is (another plugin may have
    // appended after it), a new one is appended.
    containers: nativeSidecar ? otherMain : keepInPlace(spec.containers ?? [], isOwnContainer, watcher),
    volumes: keepInPlace(spec.volumes ?? [], isOwnVolume, settle(spec.volumes, parts.volume)),
  };
}

/** `items` with every own entry removed except one, replaced by `own` at the first own position (or appended). */
function keepInPlace<T>(items: readonly T[], isOwn: (item: T) => boolean, own: T): T[] {
  const at = items.findIndex(isOwn);
  if (at === -1) return [...items, own];
  const out: T[] = [];
  items.forEach((item, i) => {
    if (i === at) out.push(own);
    else if (!isOwn(item)) out.push(item);
  });
  return out;
}

/**
 * Minimal ops turning `current` into `desired` (desired reuses current's items, so identity compares). Linear in the
 * length of both: membership is looked up in a Set by identity, never by scanning the other array.
 */
export function arrayOps<T>(path: string, current: readonly T[] | undefined, desired: readonly T[]): PatchOp[] {
  if (current === undefined || current === null) return desired.length > 0 ? [{ op: 'add', path, value: desired }] : [];
  if (desired.length === 0) return current.length > 0 ? [{ op: 'remove', path }] : [];
  if (current.length === desired.length && current.every((c, i) => c === desired[i])) return [];
  // Pure insertions (the first injection): one readable `add` per new item.
  const inCurrent = new Set<T>(current);
  const kept = desired.filter((d) => inCurrent.has(d));
  if (kept.length === current.length && kept.every((k, i) => k === current[i])) {
    // Applied in ascending order, each index is valid; "/-" once no existing item remains after it.
    let lastKept = -1;
    desired.forEach((d, i) => {
      if (inCurrent.has(d)) lastKept = i;
    });
    const ops: PatchOp[] = [];
    desired.forEach((item, index) => {
      if (!inCurrent.has(item)) ops.push({ op: 'add', path: index > lastKept ? `${path}/-` : `${path}/${index}`, value: item });
    });
    return ops;
  }
  // Same positions, changed items (a new config): replace just those items.
  if (current.length === desired.length) {
    const sameShape = desired.every((d, i) => d === current[i] || (isNamed(d) && isNamed(current[i]) && d.name === (current[i] as { name: string }).name));
    if (sameShape) {
      const ops: PatchOp[] = [];
      desired.forEach((d, i) => {
        if (d !== current[i]) ops.push({ op: 'replace', path: `${path}/${i}`, value: d });
      });
      return ops;
    }
  }
  return [{ op: 'replace', path, value: desired }];
}

const isNamed = (v: unknown): v is { name: string } => typeof v === 'object' && v !== null && typeof (v as { name?: unknown }).name === 'string';

/** Set and remove annotations under `metaPath` ('' + '/metadata' for an object, template pointer + '/metadata'). */
export function annotationOps(metaPath: string, meta: ObjectMeta | undefined, set: Record<string, string>, remove: readonly string[]): PatchOp[] {
  const current = meta?.annotations;
  const toSet = Object.entries(set).filter(([k, v]) => current?.[k] !== v);
  const toRemove = remove.filter((k) => current != null && k in current && !(k in set));
  if (toSet.length === 0 && toRemove.length === 0) return [];
  if (meta === undefined) return toSet.length > 0 ? [{ op: 'add', path: metaPath, value: { annotations: Object.fromEntries(toSet) } }] : [];
  if (current === undefined || current === null) {
    return toSet.length > 0 ? [{ op: 'add', path: `${metaPath}/annotations`, value: Object.fromEntries(toSet) }] : [];
  }
  return [
    ...toSet.map(([k, v]): PatchOp => ({ op: 'add', path: `${metaPath}/annotations/${escapePointer(k)}`, value: v })),
    ...toRemove.map((k): PatchOp => ({ op: 'remove', path: `${metaPath}/annotations/${escapePointer(k)}` })),
  ];
}

export function specOps(specPath: string, spec: PodSpec, plan: SpecPlan): PatchOp[] {
  return [
    ...arrayOps(`${specPath}/initContainers`, spec.initContainers, plan.initContainers),
    ...arrayOps(`${specPath}/containers`, spec.containers, plan.containers),
    ...arrayOps(`${specPath}/volumes`, spec.volumes, plan.volumes),
  ];
}

export { INIT_CONTAINER, WATCHER_CONTAINER };
