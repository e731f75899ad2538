// Shape checks on an untrusted request body: everything later stages rely on is verified here, once.
import type { AdmissionRequest, AdmissionReview, GroupVersionKind, Operation } from './types.js';

export class ReviewError extends Error {}

const OPERATIONS: readonly Operation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Returns the validated request, or throws ReviewError naming the first offending field. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (!isObject(body)) throw new ReviewError('body: expected a JSON object (an AdmissionReview)');
  if (body.kind !== 'AdmissionReview') throw new ReviewError(`kind: ${JSON.stringify(body.kind)} is not "AdmissionReview"`);
  if (body.apiVersion !== 'admission.k8s.io/v1') {
    throw new ReviewError(`apiVersion: ${JSON.stringify(body.apiVersion)} is not supported; allowed: "admission.k8s.io/v1"`);
  }
  const req = body.request;
  if (!isObject(req)) throw new ReviewError('request: expected an object');
  if (typeof req.uid !== 'string' || req.uid === '') throw new ReviewError('request.uid: expected a non-empty string');
  const kind = req.kind;
  if (!isObject(kind) || typeof kind.kind !== 'string' || typeof kind.version !== 'string' || typeof (kind.group ?? '') !== 'string') {
    throw new ReviewError('request.kind: expected {group, version, kind}');
  }
  if (!OPERATIONS.includes(req.operation as Operation)) {
    throw new ReviewError(`request.operation: ${JSON.stringify(req.operation)} is not one of ${OPERATIONS.join(', ')}`);
  }
  for (const field of ['object', 'oldObject'] as const) {
    const v = req[field];
    if (v !== undefined && v !== null && !isObject(v)) throw new ReviewError(`request.${field}: expected an object or null`);
  }
  if (req.namespace !== undefined && typeof req.namespace !== 'string') throw new ReviewError('request.namespace: expected a string');
  if (req.dryRun !== undefined && typeof req.dryRun !== 'boolean') throw new ReviewError('request.dryRun: expected a boolean');
  const gvk: GroupVersionKind = { group: (kind.group as string | undefined) ?? '', version: kind.version, kind: kind.kind };
  return { ...(req as unknown as AdmissionRequest), kind: gvk };
}

export type { AdmissionReview };
