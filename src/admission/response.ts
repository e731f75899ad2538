// MutationOutcome -> AdmissionResponse, the only place that knows the wire format.
import { patchBase64, patchTail } from './memo.js';
import type { MutationOutcome } from './mutate.js';
import type { AdmissionResponse, AdmissionReview } from './types.js';

export function toAdmissionResponse(uid: string, outcome: MutationOutcome): AdmissionResponse {
  const response: AdmissionResponse = { uid, allowed: outcome.allowed };
  if (outcome.allowed && outcome.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = patchBase64(outcome.patch);
  }
  if (outcome.warnings.length > 0) response.warnings = outcome.warnings;
  if (Object.keys(outcome.auditAnnotations).length > 0) response.auditAnnotations = outcome.auditAnnotations;
  if (outcome.denial) {
    response.status = { status: 'Failure', code: outcome.denial.code, reason: 'BadRequest', message: outcome.denial.message };
  }
  return response;
}

export function toAdmissionReview(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

/**
 * The response body. The base64 patch (no characters JSON must escape) is appended as cached bytes rather than
 * passed through JSON.stringify and a string-to-bytes conversion on every admission: at ~5 KB it is most of the
 * response, and most of the per-request cost after the parse.
 */
export function admissionReviewBody(uid: string, outcome: MutationOutcome): Buffer {
  const { patch, ...rest } = toAdmissionResponse(uid, outcome);
  const head = JSON.stringify(toAdmissionReview(rest));
  if (patch === undefined) return Buffer.from(head);
  return Buffer.concat([Buffer.from(head.slice(0, -2)), patchTail(outcome.patch)]);
}
