// ghostwire init: the injected init container's command (see runtime/init.ts). Cheap imports only: it runs at the
// start of every injected pod.
import { pino } from 'pino';
import { type RuntimeEnvConfig, configFromEnv, formatFieldErrors } from '../config/index.js';
import { type Logger, createLogger } from '../log.js';
import { LiteClient } from '../k8s/lite/client.js';
import { loadAccess } from '../k8s/lite/credentials.js';
import { VERSION } from '../version.js';
import { createExecutor, type IptablesExecutor } from '../runtime/iptables/executor.js';
import { DEFAULT_RESOLV_CONF } from '../runtime/exclusions.js';
import { initialize } from '../runtime/init.js';
import type { JumpWish, ServiceSource } from '../runtime/program.js';
import { EXIT_FAILURE, EXIT_USAGE, parseFlags, runCommand } from './flags.js';

const USAGE = `Usage: ghostwire init [--dry-run] [--resolv-conf PATH]

Discover the Services of the namespace, pair active/preview Services, read this Pod's role label (POD_NAME,
POD_NAMESPACE), program the nat chain (GW_NAT_CHAIN) and the jump that role wants in one iptables-restore batch
per family, and write the DNAT map (GW_IPTABLES_DNAT_MAP). Without POD_NAME the jump is left as it is.

  --dry-run            print the iptables-restore payload(s) and the map to stdout; touch neither iptables nor files
  --resolv-conf PATH   where the DNS servers to exclude are read from (default ${DEFAULT_RESOLV_CONF})

Configuration: the GW_* variables (see docs/runtime.md), POD_NAMESPACE, KUBECONFIG (else in-cluster credentials).
`;

export interface InitDeps {
  env: Record<string, string | undefined>;
  stdout: NodeJS.WritableStream;
  /** Overrides for tests. */
  source?: ServiceSource & Partial<Pick<LiteClient, 'getPod'>>;
  executor?: IptablesExecutor;
  now?: () => Date;
  /** Log destination (default stdout; stderr in a dry run). */
  logDestination?: pino.DestinationStream;
}

export async function run(argv: string[]): Promise<number> {
  return runInit(argv, { env: process.env, stdout: process.stdout });
}

export async function runInit(argv: string[], deps: InitDeps): Promise<number> {
  return runCommand('ghostwire init', async () => {
    const values = parseFlags(argv, { 'resolv-conf': { type: 'string' }, 'dry-run': { type: 'boolean', default: false } }, USAGE);
    if (values.help) {
      deps.stdout.write(USAGE);
      return 0;
    }
    const started = performance.now();
    const { config, errors } = configFromEnv(deps.env);
    // In a dry run stdout carries the payload, so the log goes to stderr.
    const destination = deps.logDestination ?? (values['dry-run'] ? pino.destination({ fd: 2, sync: true }) : undefined);
    const log = createLogger('ghostwire-init', errors.length > 0 ? 'info' : config.logLevel, destination);
    if (errors.length > 0) {
      log.error({ errors: errors.map((e) => e.field) }, `invalid configuration: ${formatFieldErrors(errors)}`);
      return EXIT_USAGE;
    }
    let client: LiteClient | undefined;
    try {
      let source = deps.source;
      if (!source) {
        const access = await loadAccess(deps.env);
        client = new LiteClient(access, { userAgent: `ghostwire-init/${VERSION}` });
        log.debug({ api: access.server.origin, credentials: access.source }, 'Kubernetes API access');
        source = client;
      }
      const jump = await roleJump(source, config, log);
      await initialize(source, config, log, {
        jump,
        dryRun: values['dry-run'],
        resolvConfPath: values['resolv-conf'] ?? DEFAULT_RESOLV_CONF,
        executor: deps.executor ?? createExecutor(),
        stdout: deps.stdout,
        now: deps.now ?? (() => new Date()),
        started,
      });
      return 0;
    } catch (err) {
      log.error({ err: { message: (err as Error).message } }, `init failed: ${(err as Error).message}`);
      return EXIT_FAILURE;
    } finally {
      client?.close();
    }
  });
}

/** The jump this Pod's role wants, read from the API (pods: get); without POD_NAME, undefined (hook untouched). */
async function roleJump(source: Partial<Pick<LiteClient, 'getPod'>>, config: RuntimeEnvConfig, log: Logger): Promise<JumpWish | undefined> {
  if (!config.podName) {
    log.warn('POD_NAME is not set: the jump is left as it is (the watcher sets it from the role)');
    return undefined;
  }
  if (!source.getPod) throw new Error('no way to read the Pod');
  let pod;
  try {
    pod = await source.getPod(config.podNamespace, config.podName);
  } catch (err) {
    throw new Error(`cannot read this Pod's role (${config.podNamespace}/${config.podName}), so the first connections could take the wrong route: ${(err as Error).message}`);
  }
  const role = pod.metadata?.labels?.[config.roleLabelKey];
  log.info({ role: role ?? null, label: config.roleLabelKey }, `role ${role === undefined ? '(none)' : JSON.stringify(role)}`);
  return { hook: config.jumpHook, want: role === config.rolePreview };
}
