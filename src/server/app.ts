// Fastify app factory. Tests build it with or without TLS and drive it with app.inject or real HTTPS.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import { type MutateContext, mutate } from '../admission/mutate.js';
import { type MutationOutcome, internalError } from '../admission/outcome.js';
import { ReviewError, parseAdmissionReview } from '../admission/review.js';
import { admissionReviewBody } from '../admission/response.js';
import type { AdmissionRequest } from '../admission/types.js';
import { findTargetKind } from '../admission/target.js';
import { clipText } from '../config/index.js';
import type { EventIntent } from '../kube/objects.js';
import { DEFAULT_IN_FLIGHT_BYTES, installBodyBudget } from './body-budget.js';
import type { WebhookMetrics } from './metrics.js';

/**
 * Names are at most 253 characters in a valid object; a forged request must not write more into the logs, and a
 * value that is not a string is named by its type (its toString() is never called).
 */
const clip = (v: unknown): string => clipText(v, 253);

export interface AppOptions {
  logger: Logger;
  metrics: WebhookMetrics;
  /** Current context (defaults follow the ConfigMap, so this is read per request). */
  context: () => MutateContext;
  /** PEM key and certificate; omitted -> plain HTTP (tests with app.inject only). */
  tls?: { key: string; cert: string };
  /** Called for Events unless the request is a dry run (sideEffects: NoneOnDryRun). */
  recordEvent?: (intent: EventIntent) => void;
  /** Readiness beyond "not shutting down", e.g. the defaults informer has synced. */
  ready?: () => boolean;
  /** Why the replica must not be ready even though ready() holds (e.g. its certificate expired); undefined: none. */
  unreadyReason?: () => string | undefined;
  bodyLimit?: number;
  /** Bytes of AdmissionReview bodies admitted at once (see body-budget.ts). */
  inFlightBytes?: number;
}

export interface WebhookApp {
  app: FastifyInstance;
  /** Flip readiness to false (first step of a graceful shutdown). */
  drain: () => void;
}

/** 6 MiB: an AdmissionReview carries object + oldObject, each at most ~1.5 MiB in etcd, plus envelope. */
export const DEFAULT_BODY_LIMIT = 6 * 1024 * 1024;

export function buildApp(opts: AppOptions): WebhookApp {
  const app = Fastify({
    loggerInstance: opts.logger,
    // One line per admission is written by the route itself; Fastify's per-request lines would double it.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // The API server's webhook client speaks HTTP/1.1; keep-alive connections are reused across admissions.
    keepAliveTimeout: 65_000,
    // The API server gives up after timeoutSeconds (<= 30); a client that trickles a request for longer is not one.
    requestTimeout: 30_000,
    return503OnClosing: true,
    ...(opts.tls ? { https: { key: opts.tls.key, cert: opts.tls.cert, minVersion: 'TLSv1.2' as const } } : {}),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;
  let draining = false;

  // Only JSON is an AdmissionReview: text/plain gets 415 like any other media type.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) request.log.error({ err: { message: err.message, code: err.code } }, 'request failed');
    // Fastify's messages can quote the body (a JSON syntax error shows where): cut like every caller-sized text.
    void reply.code(status).type('application/json').send({ error: status === 500 ? 'internal error' : clipText(err.message, 512), code: clipText(err.code ?? 'ERROR', 64) });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ error: `no route for ${request.method} ${request.url}` });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const reason = draining ? undefined : opts.unreadyReason?.();
    const ready = !draining && reason === undefined && (opts.ready?.() ?? true);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : draining ? 'draining' : 'not ready', ...(reason ? { reason } : {}) });
  });
  app.get('/metrics', async (_req, reply) => {
    return reply.type(opts.metrics.registry.contentType).send(await opts.metrics.registry.metrics());
  });

  installBodyBudget(app, {
    path: '/mutate',
    budgetBytes: opts.inFlightBytes ?? DEFAULT_IN_FLIGHT_BYTES,
    bodyLimit: opts.bodyLimit ?? DEFAULT_BODY_LIMIT,
    onRefused: () => opts.metrics.admissionBusy.inc(),
  });
  app.post('/mutate', (request, reply) => admit(request, reply, opts));

  return {
    app,
    drain: () => {
      draining = true;
    },
  };
}

/** One AdmissionReview: validate, mutate (a bug denies, never 500s), measure, record the Event, log, answer. */
async function admit(request: FastifyRequest, reply: FastifyReply, opts: AppOptions): Promise<FastifyReply> {
  let req: AdmissionRequest;
  try {
    req = parseAdmissionReview(request.body);
  } catch (err) {
    if (err instanceof ReviewError) return reply.code(400).send({ error: `invalid AdmissionReview: ${err.message}` });
    request.log.error({ err: { message: clipText((err as Error).message, 512) } }, 'review check failed');
    return reply.code(400).send({ error: 'invalid AdmissionReview' });
  }
  const started = performance.now();
  let outcome: MutationOutcome;
  try {
    outcome = mutate(req, opts.context());
  } catch (err) {
    // A bug must not crash the server or answer 500 (the API server would apply failurePolicy silently): deny with
    // a message that points at our logs.
    request.log.error({ uid: req.uid, err: { message: clipText((err as Error).message, 512), stack: (err as Error).stack } }, 'mutation failed');
    outcome = internalError();
  }
  const seconds = (performance.now() - started) / 1000;
  // Bounded label values: the kind comes from the request body, and this endpoint answers anyone who can reach it.
  const kind = findTargetKind(req.kind.group, req.kind.kind) ? req.kind.kind : 'other';
  const resultLabel = outcome.reason === 'internal-error' ? 'error' : outcome.result;
  opts.metrics.admissionDuration.observe({ kind, result: resultLabel }, seconds);
  opts.metrics.admissionRequests.inc({ kind, result: resultLabel, reason: outcome.reason });
  if (outcome.event && !req.dryRun && opts.recordEvent) opts.recordEvent(outcome.event);
  request.log.info(
    {
      uid: req.uid,
      kind,
      namespace: clip(req.namespace ?? ''),
      name: clip(req.name ?? req.object?.metadata?.name ?? req.object?.metadata?.generateName ?? ''),
      operation: req.operation,
      dryRun: req.dryRun === true,
      result: resultLabel,
      reason: outcome.reason,
      patchOps: outcome.patch.length,
      durationMs: Math.round(seconds * 100_000) / 100,
    },
    'admission',
  );
  return reply.type('application/json; charset=utf-8').send(responseBody(request, req.uid, outcome));
}

/** The response body; a failure to encode it (a bug) denies like any other internal error, never a 500. */
function responseBody(request: FastifyRequest, uid: string, outcome: MutationOutcome): string {
  try {
    return admissionReviewBody(uid, outcome);
  } catch (err) {
    request.log.error({ uid, err: { message: clipText((err as Error).message, 512) } }, 'encoding the response failed');
    return admissionReviewBody(uid, internalError());
  }
}
