// The webhook's own health as `ghostwire status` reports it: is it registered, are its replicas ready, when do the
// CA the API server trusts and the certificate each replica serves expire, are the defaults valid and in force.
import { X509Certificate } from 'node:crypto';
import { formatSelector } from '../kube/label-selector.js';
import type { KubeObject } from '../kube/objects.js';
import type { DefaultsResolution } from './defaults.js';
import { days, isoTime } from './format.js';
import type { ProbeResult, ReplicaStatus, WebhookStatus } from './model.js';
import { parseSamples, sampleValue } from './prom-text.js';
import type { ScopeChoice } from './webhook.js';

export interface WebhookHealthInput {
  choice: ScopeChoice;
  deployment: KubeObject | undefined;
  /** Where the Deployment was looked for, for the message when it was not found. */
  lookedFor: string;
  defaults: DefaultsResolution;
  replicas: Array<{ name: string; probe: ProbeResult | undefined }>;
  now: number;
  certWarnDays: number;
}

const num = (v: unknown, fallback = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** The earliest notAfter of the PEM certificates in a base64 caBundle, or an error. */
export function caBundleExpiry(caBundle: string): { notAfter: number } | { error: string } {
  if (caBundle === '') return { error: 'no caBundle' };
  const pem = Buffer.from(caBundle, 'base64').toString('utf8');
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return { error: 'the caBundle holds no PEM certificate' };
  let earliest = Infinity;
  for (const block of blocks.slice(0, 16)) {
    try {
      earliest = Math.min(earliest, Date.parse(new X509Certificate(block).validTo));
    } catch {
      return { error: 'a certificate in the caBundle does not parse' };
    }
  }
  return Number.isFinite(earliest) ? { notAfter: earliest } : { error: 'the caBundle certificates have no expiry date' };
}

const NOT_RUNNING = 'not running (no pod IP)';
const WEBHOOK_METRICS = new Set(['ghostwire_webhook_certificate_expiry_timestamp_seconds', 'ghostwire_defaults_valid']);

function replicaStatus(name: string, probe: ProbeResult | undefined): ReplicaStatus {
  if (probe === undefined) return { pod: name, reachable: false, certificateNotAfter: null, defaultsValid: null, error: NOT_RUNNING };
  if (!probe.ok) return { pod: name, reachable: false, certificateNotAfter: null, defaultsValid: null, error: probe.error };
  const samples = parseSamples(probe.text, WEBHOOK_METRICS);
  const expiry = sampleValue(samples, 'ghostwire_webhook_certificate_expiry_timestamp_seconds');
  const valid = sampleValue(samples, 'ghostwire_defaults_valid');
  return {
    pod: name,
    reachable: true,
    certificateNotAfter: expiry !== undefined && Number.isFinite(expiry) ? isoTime(expiry * 1000) : null,
    defaultsValid: valid === undefined ? null : valid === 1,
    error: null,
  };
}

function expiryFinding(what: string, notAfter: number, now: number, warnDays: number): string | undefined {
  const left = (notAfter - now) / 86_400_000;
  if (left < 0) return `${what} expired ${days(-left)} ago (${isoTime(notAfter)})`;
  if (left < warnDays) return `${what} expires in ${days(left)} (${isoTime(notAfter)}), within ${warnDays} days`;
  return undefined;
}

export function webhookStatus(input: WebhookHealthInput): WebhookStatus {
  const { choice, deployment, defaults, now } = input;
  const scope = choice.scope;
  const findings: string[] = [];
  const notes: string[] = [];
  const status: WebhookStatus = {
    configuration: scope?.configuration ?? null,
    webhook: scope?.webhook ?? null,
    failurePolicy: scope?.failurePolicy ?? null,
    endpoint: scope ? (scope.service ? `service ${scope.service.namespace}/${scope.service.name}` : `url ${scope.url ?? '(none)'}`) : null,
    namespaceSelector: scope ? formatSelector(scope.namespaceSelector) || '(every namespace)' : null,
    deployment: deployment ? `${deployment.metadata?.namespace}/${deployment.metadata?.name}` : null,
    replicas: null,
    caNotAfter: null,
    defaults: { source: defaults.source, state: defaults.state, errors: defaults.errors, resourceVersion: defaults.resourceVersion },
    replicaStatus: input.replicas.map((r) => replicaStatus(r.name, r.probe)),
    findings,
    notes,
  };
  if (!scope) {
    findings.push('no MutatingWebhookConfiguration with a ghostwire webhook (*.ghostwire.dev) found: nothing is injected (pass --webhook-config NAME if it is named otherwise)');
  } else {
    if (choice.others.length > 0) findings.push(`several configurations carry a ghostwire webhook (${[scope.configuration, ...choice.others].join(', ')}); using ${scope.configuration} (pass --webhook-config NAME)`);
    if (scope.failurePolicy === 'Ignore') notes.push('failurePolicy Ignore: while the webhook is unavailable, annotated workloads are admitted without ghostwire and run without routing');
    const ca = caBundleExpiry(scope.caBundle);
    if ('error' in ca) (scope.url && scope.caBundle === '' ? notes : findings).push(`caBundle: ${ca.error}`);
    else {
      status.caNotAfter = isoTime(ca.notAfter);
      const f = expiryFinding('the CA the API server trusts (caBundle)', ca.notAfter, now, input.certWarnDays);
      if (f) findings.push(f);
    }
  }
  deploymentFindings(status, deployment, input.lookedFor, scope?.url ?? null);
  for (const r of status.replicaStatus) {
    // A replica that is not running yet is counted by readiness above.
    if (!r.reachable && r.error !== NOT_RUNNING) findings.push(`replica ${r.pod}: metrics not readable through the pod proxy: ${r.error}`);
    if (r.defaultsValid === false) findings.push(`replica ${r.pod}: the newest defaults version was rejected; it keeps an earlier one in force`);
    if (r.certificateNotAfter !== null) {
      const f = expiryFinding(`replica ${r.pod}: the serving certificate`, Date.parse(r.certificateNotAfter), now, input.certWarnDays);
      if (f) findings.push(f);
    }
  }
  if (defaults.state === 'rejected') findings.push(`defaults ${defaults.source} rejected: ${defaults.errors.join('; ')}`);
  if (defaults.state === 'unknown' && defaults.errors.length > 0) findings.push(`defaults ${defaults.source}: ${defaults.errors.join('; ')}`);
  if (defaults.note) notes.push(defaults.note);
  return status;
}

function deploymentFindings(status: WebhookStatus, deployment: KubeObject | undefined, lookedFor: string, url: string | null): void {
  if (!deployment) {
    if (url) status.notes.push(`no webhook Deployment found (${lookedFor}); the API server calls ${url}`);
    else status.findings.push(`no webhook Deployment found (${lookedFor}); pass --webhook-namespace and --webhook-deployment`);
    return;
  }
  const spec = rec(deployment.spec);
  const st = rec(deployment.status);
  const replicas = { desired: num(spec.replicas, 1), ready: num(st.readyReplicas), available: num(st.availableReplicas), updated: num(st.updatedReplicas) };
  status.replicas = replicas;
  if (replicas.desired > 0 && replicas.ready === 0) {
    status.findings.push(`no webhook replica is ready (0/${replicas.desired}): with failurePolicy ${status.failurePolicy ?? 'Fail'} writes of annotated workloads ${status.failurePolicy === 'Ignore' ? 'go through without ghostwire' : 'are rejected'}`);
  } else if (replicas.ready < replicas.desired) {
    status.findings.push(`${replicas.ready}/${replicas.desired} replicas ready`);
  }
}
