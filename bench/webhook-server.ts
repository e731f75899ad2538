// Child process for the webhook benchmark: `ghostwire` = the real app (logging at info to /dev/null, metrics on),
// `bare` = a Fastify HTTPS handler that parses the same body and answers allowed with no patch, `bare-patch` = the
// same handler answering with a fixed patch of ghostwire's size (what any webhook returning this patch pays).
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { VERSION } from '../src/version.js';
import { createMutationMemo } from '../src/admission/memo.js';
import { mutate } from '../src/admission/mutate.js';
import { toAdmissionResponse } from '../src/admission/response.js';
import { parseAdmissionReview } from '../src/admission/review.js';
import { benchReview } from './webhook.js';
import { buildApp } from '../src/server/app.js';
import { createWebhookMetrics } from '../src/server/metrics.js';
import { createLogger } from '../src/log.js';
import { builtinDefaults } from '../src/config/index.js';
import { makeWebhookCerts } from '../src/commands/certs.js';

const mode = process.argv[2];
const certs = makeWebhookCerts('bench', 'bench', ['127.0.0.1'], [], 1);

/** `bare`: parse and allow. `bare-patch`: the same, answering with ghostwire's patch for this review, computed once. */
function bare(withPatch: boolean): FastifyInstance {
  const app = Fastify({ https: { key: certs.keyPem, cert: certs.certPem } }) as unknown as FastifyInstance;
  const ctx = { defaults: builtinDefaults(), version: VERSION, tunnelKey: 'bench-tunnel-key-0123456789' };
  const patch = withPatch ? toAdmissionResponse('x', mutate(parseAdmissionReview(JSON.parse(benchReview())), ctx)).patch : undefined;
  app.post('/mutate', async (req) => {
    const body = req.body as { request: { uid: string } };
    const response = { uid: body.request.uid, allowed: true, ...(patch ? { patchType: 'JSONPatch', patch } : {}) };
    return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
  });
  return app;
}

function ghostwire(): FastifyInstance {
  const ctx = { defaults: builtinDefaults(), version: VERSION, tunnelKey: 'bench-tunnel-key-0123456789', memo: createMutationMemo() };
  return buildApp({
    logger: createLogger('bench', 'info', pino.destination({ dest: '/dev/null', sync: false })),
    metrics: createWebhookMetrics(),
    context: () => ctx,
    tls: { key: certs.keyPem, cert: certs.certPem },
    recordEvent: () => undefined,
  }).app;
}

async function main(): Promise<void> {
  const server = mode === 'bare' ? bare(false) : mode === 'bare-patch' ? bare(true) : ghostwire();
  // CPU time of this process, read before and after a measured run: a per-request cost that, unlike requests/s,
  // holds up when other work shares the machine.
  server.get('/bench/cpu', async () => process.cpuUsage());
  await server.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`${JSON.stringify({ port: (server.server.address() as { port: number }).port })}\n`);
}

process.on('SIGINT', () => process.exit(0));
void main();
