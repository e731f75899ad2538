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
    response.status = { status: 'Failure', code: outcome.denial.code, reason: outcome.denial.code >= 500 ? 'InternalError' : 'BadRequest', message: outcome.denial.message };
  }
  return response;
}

export function toAdmissionReview(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

/**
 * The response body as text. The base64 patch (no characters JSON must escape) is appended as a cached string
 * instead of going through JSON.stringify on every admission. It stays a string, not a Buffer: Node writes a string
 * body together with the headers in one TLS record, a Buffer body as a second one (measured: ~18 us/request more).
 */
export function admissionReviewBody(uid: string, outcome: MutationOutcome): string {
  const { patch, ...rest } = toAdmissionResponse(uid, outcome);
  const head = JSON.stringify(toAdmissionReview(rest));
  return patch === undefined ? head : head.slice(0, -2) + patchTail(outcome.patch);
}
