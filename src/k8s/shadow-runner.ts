// `ghostwire shadow run`: wire the informers, the reconciler and the work queue to a real API server.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { Counter } from 'prom-client';
import type { Defaults } from '../config/defaults.js';
import { TUNNEL_STATUS_ANNOTATION } from '../config/options.js';
import { loadDefaultsFile } from '../commands/common.js';
import { createLogger } from '../log.js';
import { ShadowController, ShadowReconciler, wantsTunnel } from '../shadow/controller.js';
import { loadTunnelKey } from '../shadow/tunnel-key-file.js';
import { K8sShadowApi } from './shadow-api.js';
import { ShadowWatch } from './shadow-watch.js';
import { watchDefaultsConfigMap } from './defaults-source.js';

const USAGE = `Usage: ghostwire shadow run [--kubeconfig FILE] [--defaults FILE | --defaults-configmap NS/NAME] --tunnel-key-file FILE [--namespace NS]
                            [--concurrency N] [--resync DURATION_S] [--log-level debug|info|warn|error] [--allow-dev-key]

--kubeconfig defaults to $KUBECONFIG, ~/.kube/config, then the in-cluster service account.
--tunnel-key-file must be the key the webhook uses (else client commands carry the wrong prefix); --allow-dev-key
accepts the documented development key instead (never in a real cluster).
`;

export async function runController(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        kubeconfig: { type: 'string' },
        defaults: { type: 'string' },
        'defaults-configmap': { type: 'string' },
        'tunnel-key-file': { type: 'string' },
        'allow-dev-key': { type: 'boolean' },
        namespace: { type: 'string' },
        concurrency: { type: 'string', default: '4' },
        resync: { type: 'string', default: '600' },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`ghostwire shadow run: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const level = values['log-level'];
  if (!['debug', 'info', 'warn', 'error'].includes(level)) {
    process.stderr.write('ghostwire shadow run: --log-level must be debug, info, warn or error\n');
    return 2;
  }
  const concurrency = Number(values.concurrency);
  const resyncSeconds = Number(values.resync);
  if (!Number.isInteger(concurrency) || concurrency < 1 || !Number.isFinite(resyncSeconds) || resyncSeconds < 0) {
    process.stderr.write('ghostwire shadow run: --concurrency must be a positive integer, --resync a number of seconds (0: off)\n');
    return 2;
  }
  const log = createLogger('shadow', level as 'info');
  if (values.defaults && values['defaults-configmap']) {
    process.stderr.write('ghostwire shadow run: --defaults and --defaults-configmap are exclusive\n');
    return 2;
  }
  const [cmNamespace, cmName, ...cmRest] = (values['defaults-configmap'] ?? '').split('/');
  if (values['defaults-configmap'] !== undefined && (!cmNamespace || !cmName || cmRest.length > 0)) {
    process.stderr.write('ghostwire shadow run: --defaults-configmap: expected NAMESPACE/NAME\n');
    return 2;
  }
  const fileDefaults = values['defaults-configmap'] === undefined ? loadDefaultsFile(values.defaults) : undefined;
  const key = loadTunnelKey(values['tunnel-key-file'], {
    env: process.env,
    requireFile: !values['allow-dev-key'],
    warn: (m) => log.warn({}, m),
  });
  const kc = new KubeConfig();
  const kubeconfig = values.kubeconfig;
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromDefault();

  // The same defaults as the webhook: a file, or the ConfigMap followed live, so both compute one identity.
  let defaultsNow = (): Defaults => fileDefaults as Defaults;
  let enqueueAll = (): void => undefined;
  if (values['defaults-configmap'] !== undefined) {
    const source = await watchDefaultsConfigMap(kc, cmNamespace as string, cmName as string, log, { defaultsReloads: new Counter({ name: 'ghostwire_defaults_reloads_total', help: 'Defaults ConfigMap versions seen', labelNames: ['result'] as const, registers: [] }) }, () => enqueueAll());
    if (!source.synced()) {
      // Fail loud: shadows rendered from built-in defaults would disagree with what the webhook wrote.
      log.error({ configMap: values['defaults-configmap'] }, 'the defaults ConfigMap is invalid; fix it (the error above names every problem), then restart');
      await source.stop();
      return 1;
    }
    defaultsNow = source.current;
  }

  const api = new K8sShadowApi(kc);
  let controller: ShadowController | undefined;
  const watch = new ShadowWatch(kc, {
    namespace: values.namespace,
    log,
    onWorkload: (k) => controller?.enqueue(k),
    interesting: (w, ownsShadow) => ownsShadow || w.metadata.annotations?.[TUNNEL_STATUS_ANNOTATION] !== undefined || wantsTunnel(defaultsNow(), w),
  });
  const reconciler = new ShadowReconciler({
    api,
    get defaults() {
      return defaultsNow();
    },
    tunnelKey: key.key,
    log,
    waitForChange: watch.waitForChange,
    instance: process.env.POD_NAME ?? hostname(),
  });
  controller = new ShadowController({ reconciler, lookup: watch.lookup, log, concurrency });
  log.info(
    { server: kc.getCurrentCluster()?.server, namespace: values.namespace ?? '(all)', tunnelKeyId: key.keyId, developmentKey: key.development },
    'shadow controller starting',
  );
  await watch.start();
  // New defaults may change every workload's shadow (host, TLS, mode): reconcile them all.
  enqueueAll = () => watch.keys().forEach((k) => controller?.enqueue(k));
  const resync = resyncSeconds > 0 ? setInterval(() => watch.keys().forEach((k) => controller?.enqueue(k)), resyncSeconds * 1000) : undefined;
  log.info({}, 'shadow controller watching');

  return new Promise<number>((resolve) => {
    const shutdown = (signal: string): void => {
      log.info({ signal }, 'shadow controller stopping');
      if (resync) clearInterval(resync);
      controller?.stop();
      void watch.stop().then(() => resolve(0));
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}
