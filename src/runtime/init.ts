// `ghostwire init`: the injected init container. Discovers Services, programs the DNAT chain in one atomic
// iptables-restore batch per family, writes the DNAT map, exits. It never adds the jump: routing stays off until
// the watcher sees the preview role. Any failure exits non-zero with one error line and leaves the previous chain
// untouched (the batch is all-or-nothing), so the pod never starts half-configured.
import { pino } from 'pino';
import { configFromEnv, formatFieldErrors, type RuntimeEnvConfig } from '../config/index.js';
import { createLogger, type Logger } from '../log.js';
import { LiteClient, loadAccess } from '../k8s/lite-client.js';
import { createExecutor, type IptablesExecutor } from './iptables/executor.js';
import { applyPlan, discover, type ServiceSource } from './program.js';
import { formatDnatMap } from './dnat-map.js';
import { DEFAULT_RESOLV_CONF } from './exclusions.js';
import { parseFlags } from './flags.js';
import { VERSION } from '../version.js';

const USAGE = `Usage: ghostwire init [--dry-run] [--resolv-conf PATH]

Discover the Services of the namespace, pair active/preview Services, program the nat chain (GW_NAT_CHAIN) in one
iptables-restore batch per family and write the DNAT map (GW_IPTABLES_DNAT_MAP). Never installs the jump.

  --dry-run            print the iptables-restore payload(s) and the map to stdout; touch neither iptables nor files
  --resolv-conf PATH   where the DNS servers to exclude are read from (default ${DEFAULT_RESOLV_CONF})

Configuration: the GW_* variables (see docs/runtime.md), POD_NAMESPACE, KUBECONFIG (else in-cluster credentials).
`;

export interface InitDeps {
  env: Record<string, string | undefined>;
  stdout: NodeJS.WritableStream;
  /** Overrides for tests. */
  source?: ServiceSource;
  executor?: IptablesExecutor;
  now?: () => Date;
  /** Log destination (default stdout; stderr in a dry run). */
  logDestination?: pino.DestinationStream;
}

export async function run(argv: string[]): Promise<number> {
  return runInit(argv, { env: process.env, stdout: process.stdout });
}

export async function runInit(argv: string[], deps: InitDeps): Promise<number> {
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags(argv, { values: ['resolv-conf'], bools: ['dry-run', 'help'] });
  } catch (err) {
    process.stderr.write(`ghostwire init: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.bools.has('help')) {
    deps.stdout.write(USAGE);
    return 0;
  }
  const dryRun = flags.bools.has('dry-run');
  const { config, errors } = configFromEnv(deps.env);
  // In a dry run stdout carries the payload, so the log goes to stderr.
  const log = createLogger('ghostwire-init', errors.length > 0 ? 'info' : config.logLevel, deps.logDestination ?? (dryRun ? pino.destination({ fd: 2, sync: true }) : undefined));
  if (errors.length > 0) {
    log.error({ errors: errors.map((e) => e.field) }, `invalid configuration: ${formatFieldErrors(errors)}`);
    return 2;
  }
  const started = performance.now();
  let client: LiteClient | undefined;
  try {
    let source = deps.source;
    if (!source) {
      const access = await loadAccess(deps.env);
      client = new LiteClient(access, { userAgent: `ghostwire-init/${VERSION}` });
      log.debug({ api: access.server.origin, credentials: access.source }, 'Kubernetes API access');
      source = client;
    }
    return await programOnce(source, config, log, {
      dryRun,
      resolvConfPath: flags.values.get('resolv-conf') ?? DEFAULT_RESOLV_CONF,
      executor: deps.executor ?? createExecutor(),
      stdout: deps.stdout,
      now: deps.now ?? (() => new Date()),
      started,
    });
  } catch (err) {
    log.error({ err: { message: (err as Error).message } }, `init failed: ${(err as Error).message}`);
    return 1;
  } finally {
    client?.close();
  }
}

async function programOnce(
  source: ServiceSource,
  config: RuntimeEnvConfig,
  log: Logger,
  o: { dryRun: boolean; resolvConfPath: string; executor: IptablesExecutor; stdout: NodeJS.WritableStream; now: () => Date; started: number },
): Promise<number> {
  let plan;
  try {
    plan = await discover(source, config, log, { resolvConfPath: o.resolvConfPath, now: o.now });
  } catch (err) {
    throw new Error(`discovery failed, chain ${config.natChain} left as it was: ${(err as Error).message}`);
  }
  if (o.dryRun) {
    for (const p of plan.payloads) o.stdout.write(`### ${p.family === 4 ? 'iptables-restore' : 'ip6tables-restore'} --noflush -w 5 <<EOF\n${p.payload}### EOF\n\n`);
    o.stdout.write(`### ${config.dnatMapPath}\n${formatDnatMap(plan.map)}`);
    log.info('dry run: iptables and the map file were not touched');
    return 0;
  }
  try {
    await applyPlan(o.executor, plan, config.dnatMapPath);
  } catch (err) {
    throw new Error(`programming failed: ${(err as Error).message}`);
  }
  log.info(
    { chain: config.natChain, families: plan.map.families, rules: plan.map.mappings.length, exclusions: plan.map.exclusions.length, map: config.dnatMapPath, ms: Math.round(performance.now() - o.started) },
    `programmed ${config.natChain} with ${plan.map.mappings.length} DNAT rules and ${plan.map.exclusions.length} exclusions; jump left to the watcher`,
  );
  return 0;
}
