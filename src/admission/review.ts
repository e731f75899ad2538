// Shape checks on untrusted input, done once, so no later stage meets a value of the wrong type:
//   - the AdmissionReview envelope (parseAdmissionReview): a problem is an HTTP 400 naming the field, because there
//     is no request to answer (the uid is echoed, so it must be a short printable string first of all);
//   - the parts of the admitted object that ghostwire reads (objectShapeProblem): metadata, annotations, owner
//     references and the pod spec's three arrays. A problem there denies the object naming the field.
// Every value quoted in a message is clipped: the message of a 6 MB field is as short as that of a 6-byte one.
import { clipText, quoteValue, typeOf } from '../config/index.js';
import type { AdmissionRequest, AdmissionReview, GroupVersionKind, Operation } from './types.js';

export class ReviewError extends Error {}

const OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A value as a message shows it: a clipped, quoted string, or its type. */
const shown = (v: unknown): string => (typeof v === 'string' ? quoteValue(v) : typeOf(v));

/** The API server's uids are UUIDs; the limit leaves room for any other client while keeping logs and echoes small. */
export const MAX_UID_LENGTH = 128;
const PRINTABLE = /^[\x21-\x7e]+$/;
const KIND = /^[A-Za-z0-9]{1,63}$/;
const VERSION = /^[a-z0-9]{1,63}$/;
const GROUP = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)?$/;
const NAMESPACE = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)?$/;
/** Names are at most 253 characters in any valid object. */
export const MAX_NAME_LENGTH = 253;

function checkUid(uid: unknown): string {
  const allowed = `a non-empty string of at most ${MAX_UID_LENGTH} printable ASCII characters without spaces`;
  if (typeof uid !== 'string') throw new ReviewError(`request.uid: expected ${allowed}, got ${typeOf(uid)}`);
  if (uid.length > MAX_UID_LENGTH) throw new ReviewError(`request.uid: a string of ${uid.length} characters is invalid; allowed: ${allowed}`);
  if (!PRINTABLE.test(uid)) throw new ReviewError(`request.uid: ${quoteValue(uid)} is invalid; allowed: ${allowed}`);
  return uid;
}

function checkKind(kind: unknown): GroupVersionKind {
  const allowed = 'expected {group, version, kind}: kind 1-63 letters and digits, version 1-63 lower-case letters and digits, group empty or a DNS name';
  if (!isObject(kind)) throw new ReviewError(`request.kind: ${allowed}, got ${typeOf(kind)}`);
  const group = kind.group ?? '';
  for (const [field, value, re] of [['kind', kind.kind, KIND], ['version', kind.version, VERSION], ['group', group, GROUP]] as const) {
    if (typeof value !== 'string' || !(value.length <= 253 && re.test(value))) throw new ReviewError(`request.kind.${field}: ${shown(value)} is invalid; ${allowed}`);
  }
  return { group: group as string, version: kind.version as string, kind: kind.kind as string };
}

function checkOptionalString(req: Record<string, unknown>, field: string, re: RegExp | undefined, allowed: string): void {
  const v = req[field];
  if (v === undefined || v === null) return;
  if (typeof v !== 'string' || v.length > MAX_NAME_LENGTH || (re !== undefined && !re.test(v)) || /[\u0000-\u001f\u007f]/.test(v)) {
    throw new ReviewError(`request.${field}: ${shown(v)} is invalid; allowed: ${allowed}`);
  }
}

/** Returns the validated request, or throws ReviewError naming the first offending field. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!isObject(body)) throw new ReviewError('body: expected a JSON object (an AdmissionReview)');
  if (body.kind !== 'AdmissionReview') throw new ReviewError(`kind: ${shown(body.kind)} is not "AdmissionReview"`);
  if (body.apiVersion !== 'admission.k8s.io/v1') {
    throw new ReviewError(`apiVersion: ${shown(body.apiVersion)} is not supported; allowed: "admission.k8s.io/v1"`);
  }
  const req = body.request;
  if (!isObject(req)) throw new ReviewError(`request: expected an object, got ${typeOf(req)}`);
  const uid = checkUid(req.uid);
  const gvk = checkKind(req.kind);
  if (!OPERATIONS.includes(req.operation as Operation)) {
    throw new ReviewError(`request.operation: ${shown(req.operation)} is not one of ${OPERATIONS.join(', ')}`);
  }
  for (const field of ['object', 'oldObject'] as const) {
    const v = req[field];
    if (v !== undefined && v !== null && !isObject(v)) throw new ReviewError(`request.${field}: expected an object or null, got ${typeOf(v)}`);
  }
  checkOptionalString(req, 'namespace', NAMESPACE, 'empty or a namespace name (a DNS-1123 label)');
  checkOptionalString(req, 'name', undefined, `a string of at most ${MAX_NAME_LENGTH} characters without control characters`);
  if (req.dryRun !== undefined && req.dryRun !== null && typeof req.dryRun !== 'boolean') {
    throw new ReviewError(`request.dryRun: expected a boolean, got ${typeOf(req.dryRun)}`);
  }
  return { ...(req as unknown as AdmissionRequest), uid, kind: gvk };
}

/** Kubernetes refuses objects whose annotations (keys and values) take more than 256 KiB. */
export const MAX_ANNOTATIONS_SIZE = 256 * 1024;
/**
 * Nesting allowed inside one container or volume. ghostwire writes such items back in a patch when it rewrites an
 * array, and serialising them recurses; real pod specs are a dozen levels deep.
 */
export const MAX_ITEM_DEPTH = 64;

/** Iterative (no caller-controlled recursion); two parallel stacks, so a walk allocates no object per node. */
function deeperThan(value: unknown, max: number): boolean {
  const values: unknown[] = [value];
  const depths: number[] = [1];
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop() as number;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return true;
    if (Array.isArray(v)) {
      for (const child of v) {
        if (typeof child === 'object' && child !== null) {
          values.push(child);
          depths.push(depth + 1);
        }
      }
    } else {
      // for-in over a parsed JSON object: own enumerable keys only, and no array allocated per object.
      for (const key in v) {
        const child = (v as Record<string, unknown>)[key];
        if (typeof child === 'object' && child !== null) {
          values.push(child);
          depths.push(depth + 1);
        }
      }
    }
  }
  return false;
}

const stringOrAbsent = (v: unknown): boolean => v === undefined || v === null || typeof v === 'string';

function annotationsProblem(annotations: unknown, path: string): string | undefined {
  if (annotations === undefined || annotations === null) return undefined;
  if (!isObject(annotations)) return `${path}: expected an object of strings, got ${typeOf(annotations)}`;
  let size = 0;
  for (const key in annotations) {
    const value = annotations[key];
    if (typeof value !== 'string') return `${path}[${quoteValue(key)}]: expected a string, got ${typeOf(value)}`;
    size += key.length + value.length;
  }
  if (size > MAX_ANNOTATIONS_SIZE) {
    return `${path}: ${size} characters exceed the ${MAX_ANNOTATIONS_SIZE / 1024} KiB Kubernetes allows for annotations (the API server refuses the object)`;
  }
  return undefined;
}

/** The parts of an ObjectMeta ghostwire reads: names, namespace, uid, annotations, owner references. */
export function metadataProblem(meta: unknown, path: string): string | undefined {
  if (meta === undefined || meta === null) return undefined;
  if (!isObject(meta)) return `${path}: expected an object, got ${typeOf(meta)}`;
  for (const field of ['name', 'generateName', 'namespace', 'uid'] as const) {
    const v = meta[field];
    if (!stringOrAbsent(v)) return `${path}.${field}: expected a string, got ${typeOf(v)}`;
    if (typeof v === 'string' && v.length > MAX_NAME_LENGTH) return `${path}.${field}: a string of ${v.length} characters is too long; allowed: at most ${MAX_NAME_LENGTH}`;
  }
  if (typeof meta.namespace === 'string' && !(meta.namespace.length <= 63 && NAMESPACE.test(meta.namespace))) {
    return `${path}.namespace: ${quoteValue(meta.namespace)} is not a namespace name (a DNS-1123 label)`;
  }
  const problem = annotationsProblem(meta.annotations, `${path}.annotations`);
  if (problem) return problem;
  const owners = meta.ownerReferences;
  if (owners === undefined || owners === null) return undefined;
  if (!Array.isArray(owners)) return `${path}.ownerReferences: expected an array, got ${typeOf(owners)}`;
  for (const [i, o] of owners.entries()) {
    if (!isObject(o)) return `${path}.ownerReferences[${i}]: expected an object, got ${typeOf(o)}`;
    for (const field of ['apiVersion', 'kind', 'name', 'uid'] as const) {
      if (!stringOrAbsent(o[field])) return `${path}.ownerReferences[${i}].${field}: expected a string, got ${typeOf(o[field])}`;
    }
  }
  return undefined;
}

function itemProblem(item: unknown, path: string, withPorts: boolean): string | undefined {
  if (!isObject(item)) return `${path}: expected an object, got ${typeOf(item)}`;
  if (!stringOrAbsent(item.name)) return `${path}.name: expected a string, got ${typeOf(item.name)}`;
  if (withPorts && item.ports !== undefined && item.ports !== null) {
    if (!Array.isArray(item.ports)) return `${path}.ports: expected an array, got ${typeOf(item.ports)}`;
    for (const [i, p] of item.ports.entries()) {
      if (!isObject(p)) return `${path}.ports[${i}]: expected an object, got ${typeOf(p)}`;
      for (const field of ['name', 'protocol'] as const) {
        if (!stringOrAbsent(p[field])) return `${path}.ports[${i}].${field}: expected a string, got ${typeOf(p[field])}`;
      }
    }
  }
  if (deeperThan(item, MAX_ITEM_DEPTH)) return `${path}: nested deeper than ${MAX_ITEM_DEPTH} levels`;
  return undefined;
}

/** The pod spec's containers, init containers and volumes: arrays of objects with string names. */
export function podSpecProblem(spec: unknown, path: string): string | undefined {
  if (spec === undefined || spec === null) return undefined;
  if (!isObject(spec)) return `${path}: expected an object, got ${typeOf(spec)}`;
  for (const field of ['initContainers', 'containers', 'volumes'] as const) {
    const items = spec[field];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) return `${path}.${field}: expected an array, got ${typeOf(items)}`;
    for (const [i, item] of items.entries()) {
      const problem = itemProblem(item, `${path}.${field}[${i}]`, field !== 'volumes');
      if (problem) return problem;
    }
  }
  return undefined;
}

/** A pod template (metadata and spec), at `path` in the object ("spec.template"). */
export function templateProblem(template: unknown, path: string): string | undefined {
  if (!isObject(template)) return `${path}: expected an object, got ${typeOf(template)}`;
  return metadataProblem(template.metadata, `${path}.metadata`) ?? podSpecProblem(template.spec, `${path}.spec`);
}

export type { AdmissionReview };
