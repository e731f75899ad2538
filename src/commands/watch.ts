// ghostwire watch: the injected sidecar's command (see runtime/watcher/). Cheap imports only: it runs in every
// injected pod for the pod's lifetime.
import { unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type http from 'node:http';
import { configFromEnv, fieldError, formatFieldErrors } from '../config/index.js';
import { parseDurationMs } from '../config/validate.js';
import { createLogger, type Logger } from '../log.js';
import { LiteClient } from '../k8s/lite/client.js';
import { loadAccess } from '../k8s/lite/credentials.js';
import { VERSION } from '../version.js';
import { createConntrackExecutor } from '../runtime/connections/conntrack.js';
import { createSocketCloser } from '../runtime/connections/sockets.js';
import { createExecutor } from '../runtime/iptables/executor.js';
import { readResolvConf } from '../runtime/program.js';
import { DEFAULT_RESOLV_CONF } from '../runtime/exclusions.js';
import { type ListenTarget, createHealthServer, parseListen } from '../runtime/watcher/health-server.js';
import { WatcherMetrics } from '../runtime/watcher/metrics.js';
import { Watcher, type WatcherOptions } from '../runtime/watcher/watcher.js';
import { EXIT_FAILURE, EXIT_USAGE, parseFlags, runCommand } from './flags.js';
import { shutdownSignal } from './shutdown.js';

const USAGE = `Usage: ghostwire watch [--listen ADDR] [--verify-interval DURATION] [--resolv-conf PATH] [--watch-timeout SECONDS]
                       [--events on|off]

Follow this Pod's role label (POD_NAME, POD_NAMESPACE) and the Services of its namespace (GW_NAMESPACE), keep the
DNAT chain equal to their pairing and exactly one jump to GW_NAT_CHAIN in GW_JUMP_HOOK while the role is
GW_ROLE_PREVIEW, and reset connections whose route changed (GW_FLIP_CONNECTIONS=reset). Serves /healthz and /metrics.

  --listen ADDR             HOST:PORT, [V6]:PORT, :PORT or unix:/path (default :8081); PORT 0 picks a free port
  --verify-interval DUR     how often the chain and jump are checked against iptables-save (default 5s)
  --resolv-conf PATH        DNS servers to exclude when the chain is rebuilt by discovery (default ${DEFAULT_RESOLV_CONF})
  --watch-timeout SECONDS   server-side watch timeout (default: random 300-600, like client-go)
  --events on|off           record Events on the Pod: role flips, reprograms, resets, API outages (default on)
`;

/** Flag values checked; every problem is listed, not just the first. */
function checkFlags(values: { listen?: string; 'verify-interval'?: string; 'watch-timeout'?: string }) {
  const problems: string[] = [];
  const listen = parseListen(values.listen ?? ':8081');
  if (!listen) problems.push(`--listen ${JSON.stringify(values.listen)}: expected HOST:PORT, [V6]:PORT, :PORT or unix:/path`);
  const verifyIntervalMs = parseDurationMs(values['verify-interval'] ?? '5s');
  if (verifyIntervalMs === undefined || verifyIntervalMs < 50) problems.push('--verify-interval: expected a duration of at least 50ms such as "5s"');
  const wt = values['watch-timeout'];
  const watchTimeoutSeconds = wt === undefined ? undefined : Number(wt);
  if (watchTimeoutSeconds !== undefined && !(Number.isInteger(watchTimeoutSeconds) && watchTimeoutSeconds >= 1)) problems.push('--watch-timeout: expected whole seconds >= 1');
  return { problems, listen: listen as ListenTarget, verifyIntervalMs: verifyIntervalMs as number, watchTimeoutSeconds };
}

async function listen(server: http.Server, target: ListenTarget, log: Logger): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const ready = (): void => {
      server.off('error', reject);
      resolve();
    };
    if ('path' in target) void unlink(target.path).catch(() => undefined).then(() => server.listen(target.path, ready));
    else if (target.host === undefined) server.listen(target.port, ready);
    else server.listen(target.port, target.host, ready);
  });
  const addr = server.address();
  if (typeof addr === 'string') log.info({ socket: addr }, `health and metrics listening on unix:${addr}`);
  else if (addr) log.info({ address: addr.address, port: addr.port }, `health and metrics listening on ${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`);
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('ghostwire watch', async () => {
    const values = parseFlags(argv, {
      listen: { type: 'string' },
      'verify-interval': { type: 'string' },
      'resolv-conf': { type: 'string' },
      'watch-timeout': { type: 'string' },
      events: { type: 'string', default: 'on' },
    }, USAGE);
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const { config, errors } = configFromEnv(process.env);
    if (!config.podName) errors.push(fieldError('environment', 'POD_NAME', '', 'the Pod\'s own name (downward API fieldRef metadata.name); the watcher follows that Pod'));
    const log = createLogger('ghostwire-watch', errors.length > 0 ? 'info' : config.logLevel);
    const flags = checkFlags(values);
    if (values.events !== 'on' && values.events !== 'off') flags.problems.push(`--events: ${JSON.stringify(values.events)} is not allowed; allowed: on, off`);
    if (errors.length > 0 || flags.problems.length > 0) {
      log.error({ errors: errors.map((e) => e.field) }, `invalid configuration: ${[formatFieldErrors(errors), ...flags.problems].filter((s) => s !== '').join('; ')}`);
      return EXIT_USAGE;
    }
    // Installed before anything starts, and kept: a signal during start-up or a second one during shutdown must not
    // kill the process half way through an iptables call.
    const stopSignal = shutdownSignal();
    let client: LiteClient;
    try {
      client = new LiteClient(await loadAccess(process.env), { userAgent: `ghostwire-watch/${VERSION}` });
    } catch (err) {
      log.error(`cannot reach the Kubernetes API: ${(err as Error).message}`);
      return EXIT_FAILURE;
    }
    const metrics = new WatcherMetrics();
    const resolvConfPath = values['resolv-conf'] ?? DEFAULT_RESOLV_CONF;
    const options: WatcherOptions = {
      config: { ...config, podName: config.podName as string },
      api: client,
      executor: createExecutor(),
      // The batch file goes next to the map: the shared volume is the one place the watcher may write.
      conntrack: createConntrackExecutor({ scratchDir: dirname(config.dnatMapPath) }),
      sockets: createSocketCloser(),
      log,
      metrics,
      verifyIntervalMs: flags.verifyIntervalMs,
      resolvConfPath,
      nameservers: await readResolvConf(resolvConfPath),
      events: values.events === 'on',
    };
    if (flags.watchTimeoutSeconds !== undefined) options.watchTimeoutSeconds = flags.watchTimeoutSeconds;
    const watcher = new Watcher(options);
    const server = createHealthServer(watcher, metrics);
    try {
      await listen(server, flags.listen, log);
    } catch (err) {
      log.error(`cannot listen on ${values.listen ?? ':8081'}: ${(err as Error).message}`);
      client.close();
      return EXIT_FAILURE;
    }
    log.info(
      { pod: config.podName, namespace: config.podNamespace, services: config.effectiveNamespace, chain: config.natChain, hook: config.jumpHook, label: config.roleLabelKey, preview: config.rolePreview, refreshMs: config.refreshIntervalMs, verifyMs: flags.verifyIntervalMs },
      `watching pod ${config.podNamespace}/${config.podName} label ${config.roleLabelKey}`,
    );
    watcher.start();
    const signal = await stopSignal;
    log.info(`${signal}: stopping (the jump is left as it is)`);
    await watcher.stop();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    client.close();
    log.info('stopped');
    return 0;
  });
}
