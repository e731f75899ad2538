// ghostwire serve: the webhook process. Wires files, the cluster and signals around the pure pipeline.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Server as TlsServer } from 'node:tls';
import type { LevelWithSilent } from 'pino';
import { VERSION } from '../version.js';
import { createLogger } from '../log.js';
import type { MutateContext } from '../admission/mutate.js';
import { createMutationMemo } from '../admission/memo.js';
import type { Defaults } from '../config/index.js';
import { buildApp } from '../server/app.js';
import { createWebhookMetrics } from '../server/metrics.js';
import { loadTlsPair, watchTls } from '../server/tls-reload.js';
import { UsageError, guard, loadDefaultsFile, tunnelKeyFromFlag, parseFlags } from './common.js';
import { makeWebhookCerts, writeCertFiles } from './certs.js';

const USAGE = `Usage: ghostwire serve [--port N] [--host ADDR] [--tls-cert F --tls-key F]
                       [--defaults FILE | --defaults-configmap NS/NAME] [--namespace NS]
                       [--tunnel-key-file F] [--kubeconfig F] [--events auto|on|off]
                       [--drain-delay DURATION_SECONDS] [--log-level L] [--dev]

--dev (what \`npm start\` uses): generates certificates in ./certs on first start and listens on 127.0.0.1:8443
with built-in defaults; no cluster needed, and no Events unless --events on.`;

function clusterAvailable(kubeconfig: string | undefined): boolean {
  return Boolean(kubeconfig || process.env.KUBECONFIG || process.env.KUBERNETES_SERVICE_HOST || existsSync(join(homedir(), '.kube', 'config')));
}

export async function run(argv: string[]): Promise<number> {
  return guard(async () => {
    const { values } = parseFlags(argv, {
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
    }, USAGE);
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port: ${JSON.stringify(values.port)} is not a port number (0-65535)`);
    const levels = ['debug', 'info', 'warn', 'error', 'silent'];
    if (!levels.includes(values['log-level'] as string)) throw new UsageError(`--log-level: ${JSON.stringify(values['log-level'])} is not allowed; allowed: ${levels.join(', ')}`);
    if (!['auto', 'on', 'off'].includes(values.events as string)) throw new UsageError(`--events: ${JSON.stringify(values.events)} is not allowed; allowed: auto, on, off`);
    if (values.defaults && values['defaults-configmap']) throw new UsageError('--defaults and --defaults-configmap are exclusive');
    const drainSeconds = Number(values['drain-delay']);
    const reloadSeconds = Number(values['tls-reload-interval']);
    if (!(drainSeconds >= 0 && drainSeconds <= 60)) throw new UsageError('--drain-delay: seconds between 0 and 60');
    if (!(reloadSeconds > 0 && reloadSeconds <= 300)) throw new UsageError('--tls-reload-interval: seconds between 0 and 300');

    const log = createLogger('ghostwire-webhook', values['log-level'] as LevelWithSilent);
    const ownNamespace = values.namespace ?? process.env.POD_NAMESPACE;
    const host = values.host ?? (values.dev ? '127.0.0.1' : '0.0.0.0');

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
    let pair;
    try {
      pair = loadTlsPair(files);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }

    const metrics = createWebhookMetrics();
    metrics.certificateExpiry.set(pair.notAfter.getTime() / 1000);
    const tunnelKey = tunnelKeyFromFlag(values['tunnel-key-file'], (m) => log.warn(m));

    // Defaults: a file (fixed), the ConfigMap (followed), or built-ins.
    let defaultsNow: () => Defaults;
    let synced = () => true;
    let stopDefaults = async () => {};
    // --dev never writes Events into whatever cluster a developer's kubeconfig points at, unless asked to.
    const eventsAuto = values.events === 'auto' && !values.dev && clusterAvailable(values.kubeconfig);
    const wantsCluster = values['defaults-configmap'] !== undefined || values.events === 'on' || eventsAuto;
    const kc = wantsCluster ? (await import('../k8s/client.js')).loadKubeConfig(values.kubeconfig) : undefined;
    if (values['defaults-configmap']) {
      const [ns, name, ...rest] = (values['defaults-configmap'] as string).split('/');
      if (!ns || !name || rest.length > 0) throw new UsageError('--defaults-configmap: expected NAMESPACE/NAME');
      const { watchDefaultsConfigMap } = await import('../k8s/defaults-source.js');
      const source = await watchDefaultsConfigMap(kc!, ns, name, log, metrics);
      defaultsNow = source.current;
      synced = source.synced;
      stopDefaults = source.stop;
    } else {
      const fixed = loadDefaultsFile(values.defaults);
      defaultsNow = () => fixed;
    }

    let recordEvent: ((intent: import('../admission/mutate.js').EventIntent) => void) | undefined;
    let flushEvents = async () => {};
    if (kc && (values.events === 'on' || eventsAuto)) {
      const { createEventRecorder } = await import('../k8s/events.js');
      const recorder = createEventRecorder(kc, log, () => metrics.eventsDropped.inc());
      recordEvent = recorder.record;
      flushEvents = recorder.flush;
    }

    // The context object is rebuilt only when the defaults change, so admissions share one.
    let cached: { defaults: Defaults; ctx: MutateContext } | undefined;
    const context = (): MutateContext => {
      const defaults = defaultsNow();
      if (cached?.defaults !== defaults) {
        // A new memo per defaults version: memoised results never outlive the config they came from.
        const ctx: MutateContext = { defaults, version: VERSION, tunnelKey, memo: createMutationMemo() };
        if (ownNamespace) ctx.ownNamespace = ownNamespace;
        cached = { defaults, ctx };
      }
      return cached.ctx;
    };

    const { app, drain } = buildApp({
      logger: log,
      metrics,
      context,
      tls: { key: pair.key, cert: pair.cert },
      ...(recordEvent ? { recordEvent } : {}),
      ready: () => synced(),
    });
    await app.listen({ port, host });
    const reloader = watchTls(app.server as unknown as TlsServer, files, log, (p) => metrics.certificateExpiry.set(p.notAfter.getTime() / 1000), reloadSeconds * 1000);
    const address = app.server.address();
    log.info({ address, version: VERSION, events: Boolean(recordEvent), ownNamespace: ownNamespace ?? null }, 'ghostwire webhook listening');
    if (values.dev) {
      process.stderr.write(`ghostwire webhook on https://${host}:${typeof address === 'object' && address ? address.port : port} (CA: certs/ca.crt)\n`);
    }

    return new Promise<number>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        // Readiness goes false first so endpoints drop us, then in-flight requests finish, then exit.
        log.info({ signal, drainSeconds }, 'shutting down: readiness off, draining');
        drain();
        setTimeout(() => {
          reloader.stop();
          void app
            .close()
            .then(() => stopDefaults())
            .then(() => Promise.race([flushEvents(), new Promise((r) => setTimeout(r, 5000).unref())]))
            .then(
              () => {
                log.info('stopped');
                resolve(0);
              },
              (err: unknown) => {
                log.error({ err: { message: (err as Error).message } }, 'error while stopping');
                resolve(1);
              },
            );
        }, drainSeconds * 1000);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
  });
}

