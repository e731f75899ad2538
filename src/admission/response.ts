// MutationOutcome -> AdmissionResponse, the only place that knows the wire format.
import { serializePatch } from './memo.js';
import type { MutationOutcome } from './mutate.js';
import type { AdmissionResponse, AdmissionReview } from './types.js';

export function toAdmissionResponse(uid: string, outcome: MutationOutcome): AdmissionResponse {
  const response: AdmissionResponse = { uid, allowed: outcome.allowed };
  if (outcome.allowed && outcome.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(serializePatch(outcome.patch)).toString('base64');
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
