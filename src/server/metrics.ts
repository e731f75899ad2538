// The webhook's Prometheus metrics, on a registry of its own (tests build many apps in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface WebhookMetrics {
  registry: Registry;
  admissionDuration: Histogram<'kind' | 'result'>;
  admissionRequests: Counter<'kind' | 'result' | 'reason'>;
  admissionBusy: Counter;
  certificateExpiry: Gauge;
  certificateRejections: Counter<'reason'>;
  certificateValid: Gauge;
  defaultsReloads: Counter<'result'>;
  defaultsValid: Gauge;
  eventsDropped: Counter;
  /** Whether the pair in use is valid now (set by serve; read when /metrics is scraped). */
  certificateValidNow?: () => boolean;
}

export function createWebhookMetrics(withProcessMetrics = true): WebhookMetrics {
  const registry = new Registry();
  if (withProcessMetrics) collectDefaultMetrics({ register: registry, prefix: 'ghostwire_webhook_' });
  const metrics: WebhookMetrics = {
    registry,
    admissionDuration: new Histogram({
      name: 'ghostwire_admission_duration_seconds',
      help: 'Time to answer one AdmissionReview, from parsed body to response',
      labelNames: ['kind', 'result'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    admissionRequests: new Counter({
      name: 'ghostwire_admission_requests_total',
      help: 'AdmissionReviews answered, by result (injected, updated, removed, skipped, denied, error) and reason',
      labelNames: ['kind', 'result', 'reason'] as const,
      registers: [registry],
    }),
    admissionBusy: new Counter({
      name: 'ghostwire_admission_busy_total',
      help: 'AdmissionReviews answered 503 before their body was read: the in-flight body budget was used up',
      registers: [registry],
    }),
    certificateExpiry: new Gauge({
      name: 'ghostwire_webhook_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the serving certificate currently in use (Unix seconds)',
      registers: [registry],
    }),
    certificateRejections: new Counter({
      name: 'ghostwire_webhook_certificate_rejections_total',
      help: 'Serving certificate pairs not put in service, by reason (unusable, expired, not-yet-valid); at start-up or on reload',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    certificateValid: new Gauge({
      name: 'ghostwire_webhook_certificate_valid',
      help: '1 while the serving certificate in use is within its validity period, 0 otherwise (the replica is then not ready)',
      registers: [registry],
      collect() {
        // Read at scrape time: a certificate expires without any event.
        if (metrics.certificateValidNow) this.set(metrics.certificateValidNow() ? 1 : 0);
      },
    }),
    defaultsReloads: new Counter({
      name: 'ghostwire_defaults_reloads_total',
      help: 'Defaults ConfigMap versions seen, by result (applied, rejected, deleted)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    defaultsValid: new Gauge({
      name: 'ghostwire_defaults_valid',
      help: '1 while the newest defaults ConfigMap version is in force (or none exists), 0 while the newest was rejected',
      registers: [registry],
    }),
    eventsDropped: new Counter({
      name: 'ghostwire_events_dropped_total',
      help: 'Kubernetes Events not recorded (queue full or API error after retries)',
      registers: [registry],
    }),
  };
  metrics.defaultsValid.set(1);
  return metrics;
}
