// Child process for the webhook benchmark: `ghostwire` = the real app (logging at info to /dev/null, metrics on),
// `bare` = a Fastify HTTPS handler that parses the same body and answers allowed with no patch.
import Fastify from 'fastify';
import { pino } from 'pino';
import { VERSION } from '../src/version.js';
import { createMutationMemo } from '../src/admission/memo.js';
import { buildApp } from '../src/server/app.js';
import { createWebhookMetrics } from '../src/server/metrics.js';
import { createLogger } from '../src/log.js';
import { builtinDefaults } from '../src/config/index.js';
import { makeWebhookCerts } from '../src/commands/certs.js';

const mode = process.argv[2];
const certs = makeWebhookCerts('bench', 'bench', ['127.0.0.1'], [], 1);
const tls = { key: certs.keyPem, cert: certs.certPem, minVersion: 'TLSv1.2' as const };

async function main(): Promise<void> {
  let server;
  if (mode === 'bare') {
    const app = Fastify({ https: tls });
    app.post('/mutate', async (req) => {
      const body = req.body as { request: { uid: string } };
      return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: body.request.uid, allowed: true } };
    });
    server = app;
  } else {
    const ctx = { defaults: builtinDefaults(), version: VERSION, tunnelKey: 'bench-tunnel-key-0123456789', memo: createMutationMemo() };
    const { app } = buildApp({
      logger: createLogger('bench', process.env.BENCH_LOG_LEVEL === 'silent' ? 'silent' : 'info', pino.destination({ dest: '/dev/null', sync: false })),
      metrics: createWebhookMetrics(),
      context: () => ctx,
      tls: { key: certs.keyPem, cert: certs.certPem },
      recordEvent: () => undefined,
    });
    server = app;
  }
  await server.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`${JSON.stringify({ port: (server.server.address() as { port: number }).port })}\n`);
}

void main();
process.on('SIGINT', () => process.exit(0));
