// ghostwire serve: the webhook process. Wires files, the cluster and signals around the pure pipeline.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import { VERSION } from '../version.js';
import { type Logger, createLogger } from '../log.js';
import type { MutateContext } from '../admission/mutate.js';
import { createMutationMemo } from '../admission/memo.js';
import { type Defaults, builtinDefaults } from '../config/index.js';
import type { EventIntent } from '../kube/objects.js';
import { buildApp } from '../server/app.js';
import { type WebhookMetrics, createWebhookMetrics } from '../server/metrics.js';
import { type TlsPair, loadTlsPair, pairValidity, watchTls } from '../server/tls-reload.js';
import { LOG_LEVELS, UsageError, objectName, oneOf, parseFlags, runCommand, seconds } from './flags.js';
import { loadDefaultsFile, tunnelKeyFromFlag } from './inputs.js';
import { grace, shutdownSignal } from './shutdown.js';
import { makeWebhookCerts, writeCertFiles } from './certs.js';

const USAGE = `Usage: ghostwire serve [--port N] [--host ADDR] [--tls-cert F --tls-key F]
                       [--defaults FILE | --defaults-configmap NS/NAME] [--namespace NS]
                       [--tunnel-key-file F] [--kubeconfig F] [--events auto|on|off]
                       [--drain-delay SECONDS] [--tls-reload-interval SECONDS] [--log-level L] [--dev]

--dev (what \`npm start\` uses): generates certificates in ./certs on first start and listens on 127.0.0.1:8443
with built-in defaults; no cluster needed, and no Events unless --events on.`;

const FLAGS = {
  port: { type: 'string', default: '8443' },
  host: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  defaults: { type: 'string' },
  'defaults-configmap': { type: 'string' },
  namespace: { type: 'string' },
  'tunnel-key-file': { type: 'string' },
  kubeconfig: { type: 'string' },
  events: { type: 'string', default: 'auto' },
  'drain-delay': { type: 'string', default: '3' },
  'tls-reload-interval': { type: 'string', default: '2' },
  'log-level': { type: 'string', default: 'info' },
  dev: { type: 'boolean', default: false },
} as const;

type Flags = ReturnType<typeof parseFlags<typeof FLAGS>>;

function clusterAvailable(kubeconfig: string | undefined): boolean {
  return Boolean(kubeconfig || process.env.KUBECONFIG || process.env.KUBERNETES_SERVICE_HOST || existsSync(join(homedir(), '.kube', 'config')));
}

/** The serving pair: the given files, or with --dev certificates generated once into ./certs. */
function servingPair(values: Flags, ownNamespace: string | undefined, log: Logger): { files: { certFile: string; keyFile: string }; pair: TlsPair } {
  let certFile = values['tls-cert'];
  let keyFile = values['tls-key'];
  if (values.dev && !certFile && !keyFile) {
    certFile = join('certs', 'tls.crt');
    keyFile = join('certs', 'tls.key');
    if (!existsSync(certFile) || !existsSync(keyFile)) {
      writeCertFiles('certs', makeWebhookCerts('ghostwire', ownNamespace ?? 'ghostwire', ['127.0.0.1', '::1'], ['localhost'], 365));
      log.info({ dir: 'certs' }, 'generated development certificates (CA in certs/ca.crt)');
    }
  }
  if (!certFile || !keyFile) throw new UsageError(`--tls-cert and --tls-key are required (or --dev)\n\n${USAGE}`);
  const files = { certFile, keyFile };
  try {
    return { files, pair: loadTlsPair(files) };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

interface ClusterParts {
  defaults: () => Defaults;
  ready: () => boolean;
  recordEvent?: (intent: EventIntent) => void;
  stop: () => Promise<void>;
}

/** Defaults (a file, the ConfigMap followed by an informer, or built-ins) and the Event recorder. */
async function clusterParts(values: Flags, log: Logger, metrics: WebhookMetrics): Promise<ClusterParts> {
  if (values.defaults && values['defaults-configmap']) throw new UsageError('--defaults and --defaults-configmap are exclusive');
  const cm = values['defaults-configmap'] === undefined ? undefined : objectName('defaults-configmap', values['defaults-configmap']);
  // --dev never writes Events into whatever cluster a developer's kubeconfig points at, unless asked to.
  const events = values.events === 'on' || (values.events === 'auto' && !values.dev && clusterAvailable(values.kubeconfig));
  const kc = cm || events ? (await import('../k8s/kubeconfig.js')).loadKubeConfig(values.kubeconfig) : undefined;
  const fixed = cm ? builtinDefaults() : loadDefaultsFile(values.defaults);
  const parts: ClusterParts = { defaults: () => fixed, ready: () => true, stop: async () => {} };
  const stops: Array<() => Promise<void>> = [];
  if (kc && cm) {
    const { watchDefaultsConfigMap } = await import('../k8s/defaults-source.js');
    const source = await watchDefaultsConfigMap(kc, cm.namespace, cm.name, log, {
      onReload: (result) => {
        metrics.defaultsReloads.inc({ result });
        metrics.defaultsValid.set(result === 'rejected' ? 0 : 1);
      },
    });
    parts.defaults = source.current;
    parts.ready = source.synced;
    stops.push(source.stop);
  }
  if (kc && events) {
    const { createEventRecorder } = await import('../k8s/events.js');
    const recorder = createEventRecorder(kc, log, 'ghostwire.dev/injector', () => metrics.eventsDropped.inc());
    parts.recordEvent = recorder.record;
    // Queued Events get a few seconds after the server closed; an unreachable API server must not hold the exit.
    stops.push(() => Promise.race([recorder.flush(), grace(5000)]));
  }
  parts.stop = async () => {
    for (const stop of stops) await stop();
  };
  return parts;
}

/**
 * The pair in service: its expiry and validity in the metrics, a rejection counted, and readiness false while it is
 * outside its validity period. An expired or not-yet-valid pair is still served at start-up (the process stays up to
 * pick up a rotation), but the replica is not ready and says why.
 */
function servingCertificate(pair: TlsPair, log: Logger, metrics: WebhookMetrics) {
  let current = pair;
  const use = (p: TlsPair) => {
    current = p;
    metrics.certificateExpiry.set(p.notAfter.getTime() / 1000);
  };
  use(pair);
  const startValidity = pairValidity(pair);
  if (startValidity !== 'valid') {
    log.warn({ reason: startValidity, notBefore: pair.notBefore.toISOString(), notAfter: pair.notAfter.toISOString() }, 'serving certificate is not valid now; not ready until a valid pair is loaded');
    metrics.certificateRejections.inc({ reason: startValidity });
  }
  metrics.certificateValidNow = () => pairValidity(current) === 'valid';
  return {
    hooks: { onLoaded: use, onRejected: (reason: string) => metrics.certificateRejections.inc({ reason }) },
    unreadyReason: (): string | undefined => {
      const v = pairValidity(current);
      return v === 'valid' ? undefined : `serving certificate ${v === 'expired' ? 'expired' : 'not valid yet'} (valid ${current.notBefore.toISOString()} to ${current.notAfter.toISOString()})`;
    },
  };
}

/** One MutateContext per defaults version, so admissions share one (and its memo never outlives its config). */
function contextFor(defaultsNow: () => Defaults, tunnelKey: string, ownNamespace: string | undefined): () => MutateContext {
  let cached: { defaults: Defaults; ctx: MutateContext } | undefined;
  return () => {
    const defaults = defaultsNow();
    if (cached?.defaults !== defaults) {
      const ctx: MutateContext = { defaults, version: VERSION, tunnelKey, memo: createMutationMemo() };
      if (ownNamespace) ctx.ownNamespace = ownNamespace;
      cached = { defaults, ctx };
    }
    return cached.ctx;
  };
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('ghostwire serve', async () => {
    const values = parseFlags(argv, FLAGS, USAGE);
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: ${JSON.stringify(values.port)} is not a port number (0-65535)`);
    const level = oneOf('log-level', values['log-level'], [...LOG_LEVELS, 'silent'] as const);
    oneOf('events', values.events, ['auto', 'on', 'off']);
    const drainSeconds = seconds('drain-delay', values['drain-delay'], 0, 60);
    const reloadSeconds = seconds('tls-reload-interval', values['tls-reload-interval'], 0.1, 300);
    const stopSignal = shutdownSignal();
    const log = createLogger('ghostwire-webhook', level);
    const ownNamespace = values.namespace ?? process.env.POD_NAMESPACE;
    const host = values.host ?? (values.dev ? '127.0.0.1' : '0.0.0.0');
    const { files, pair } = servingPair(values, ownNamespace, log);
    const metrics = createWebhookMetrics();
    const certificate = servingCertificate(pair, log, metrics);
    const tunnelKey = tunnelKeyFromFlag(values['tunnel-key-file'], (m) => log.warn(m)).key;
    const cluster = await clusterParts(values, log, metrics);
    const { app, drain } = buildApp({
      logger: log,
      metrics,
      context: contextFor(cluster.defaults, tunnelKey, ownNamespace),
      tls: { key: pair.key, cert: pair.cert },
      ...(cluster.recordEvent ? { recordEvent: cluster.recordEvent } : {}),
      ready: cluster.ready,
      unreadyReason: certificate.unreadyReason,
    });
    await app.listen({ port, host });
    const reloader = watchTls(app.server as unknown as TlsServer, files, log, certificate.hooks, reloadSeconds * 1000);
    const address = app.server.address();
    log.info({ address, version: VERSION, events: Boolean(cluster.recordEvent), ownNamespace: ownNamespace ?? null }, 'ghostwire webhook listening');
    if (values.dev) process.stderr.write(`ghostwire webhook on https://${host}:${typeof address === 'object' && address ? address.port : port} (CA: certs/ca.crt)\n`);

    const signal = await stopSignal;
    // Readiness goes false first so endpoints drop us, then in-flight requests finish, then exit.
    log.info({ signal, drainSeconds }, 'shutting down: readiness off, draining');
    drain();
    await grace(drainSeconds * 1000);
    reloader.stop();
    await app.close();
    await cluster.stop();
    log.info('stopped');
    return 0;
  });
}
