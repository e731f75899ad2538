// ghostwire shadow run: the shadow tunnel controller process.
import { hostname } from 'node:os';
import { createLogger } from '../log.js';
import { type ShadowScope, parseOptInLabel, scopeProblems } from '../shadow/scope.js';
import { LOG_LEVELS, UsageError, integer, namespaceName, objectName, oneOf, parseFlags, runCommand, seconds } from './flags.js';
import { loadDefaultsFile, tunnelKeyFromFlag } from './inputs.js';
import { SHADOW_USAGE } from './shadow.js';
import { metricsListen, startStaleMetrics } from './shadow-metrics.js';
import { shutdownSignal } from './shutdown.js';

export async function run(argv: string[]): Promise<number> {
  return runCommand('ghostwire shadow run', async () => {
    const values = parseFlags(argv, {
      kubeconfig: { type: 'string' },
      defaults: { type: 'string' },
      'defaults-configmap': { type: 'string' },
      'tunnel-key-file': { type: 'string' },
      'allow-dev-key': { type: 'boolean' },
      namespace: { type: 'string', multiple: true },
      'own-namespace': { type: 'string' },
      'opt-in-label': { type: 'string' },
      concurrency: { type: 'string', default: '4' },
      resync: { type: 'string', default: '600' },
      'log-level': { type: 'string', default: 'info' },
      'metrics-listen': { type: 'string' },
    }, SHADOW_USAGE);
    if (values.help) {
      process.stdout.write(SHADOW_USAGE);
      return 0;
    }
    const log = createLogger('shadow', oneOf('log-level', values['log-level'], LOG_LEVELS));
    const concurrency = integer('concurrency', values.concurrency, 1, 64);
    const resyncSeconds = seconds('resync', values.resync, 0, 86_400);
    const metricsAt = metricsListen(values['metrics-listen']);
    if (values.defaults && values['defaults-configmap']) throw new UsageError('--defaults and --defaults-configmap are exclusive');
    const cm = values['defaults-configmap'] === undefined ? undefined : objectName('defaults-configmap', values['defaults-configmap']);
    const defaults = cm ? { configMap: cm } : loadDefaultsFile(values.defaults);
    const scope = scopeFromFlags(values.namespace, values['own-namespace'] ?? process.env.POD_NAMESPACE, values['opt-in-label']);
    const key = tunnelKeyFromFlag(values['tunnel-key-file'], (m) => log.warn({}, m), !values['allow-dev-key']);
    const stopSignal = shutdownSignal();
    const { loadKubeConfig } = await import('../k8s/kubeconfig.js');
    const { startShadowController } = await import('../k8s/shadow-controller.js');
    const kc = loadKubeConfig(values.kubeconfig);
    log.info(
      { server: kc.getCurrentCluster()?.server, namespaces: scope.namespaces ?? '(all)', ownNamespace: scope.ownNamespace ?? null, optInLabel: scope.optInLabel ?? null, tunnelKeyId: key.keyId, developmentKey: key.development },
      'shadow controller starting',
    );
    const controller = await startShadowController(kc, log, {
      defaults,
      tunnelKey: key.key,
      scope,
      concurrency,
      resyncSeconds,
      instance: process.env.POD_NAME ?? hostname(),
    });
    const metrics = metricsAt && (await startStaleMetrics(controller, metricsAt, { tunnelKey: key.key, ownNamespace: scope.ownNamespace, log }));
    log.info({}, 'shadow controller watching');
    const signal = await stopSignal;
    log.info({ signal }, 'shadow controller stopping');
    metrics?.close();
    await controller.stop();
    log.info({}, 'stopped');
    return 0;
  });
}

/** --namespace (repeatable, comma-separated), --own-namespace, --opt-in-label: where the controller may act. */
function scopeFromFlags(namespaces: string[] | undefined, own: string | undefined, optIn: string | undefined): ShadowScope {
  const scope: ShadowScope = {};
  if (namespaces !== undefined) {
    const names = namespaces.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
    scope.namespaces = [...new Set(names.map((n) => namespaceName('namespace', n)))];
  }
  if (own !== undefined && own !== '') scope.ownNamespace = namespaceName('own-namespace', own);
  if (optIn !== undefined) {
    const label = parseOptInLabel(optIn);
    if (!label) throw new UsageError(`--opt-in-label: ${JSON.stringify(optIn.slice(0, 80))} is not allowed; allowed: KEY=VALUE, a label such as ghostwire.dev/injection=enabled`);
    scope.optInLabel = label;
  }
  const problems = scopeProblems(scope);
  if (problems.length > 0) throw new UsageError(`--namespace: ${problems.join('; ')}`);
  return scope;
}
