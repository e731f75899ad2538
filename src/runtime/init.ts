// What `ghostwire init` does in the injected init container: discover Services, program the DNAT chain in one
// atomic iptables-restore batch per family, write the DNAT map. It never adds the jump: routing stays off until the
// watcher sees the preview role. Any failure throws and leaves the previous chain untouched (the batch is
// all-or-nothing), so the pod never starts half-configured.
import type { RuntimeEnvConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { IptablesExecutor } from './iptables/executor.js';
import { formatDnatMap } from './dnat-map.js';
import { type ServiceSource, applyPlan, discover } from './program.js';

export interface InitOptions {
  /** Print the payloads and the map instead of touching iptables and files. */
  dryRun: boolean;
  resolvConfPath: string;
  executor: IptablesExecutor;
  stdout: NodeJS.WritableStream;
  now: () => Date;
  /** performance.now() when the process started, for the wall time in the log. */
  started: number;
}

export async function initialize(source: ServiceSource, config: RuntimeEnvConfig, log: Logger, o: InitOptions): Promise<void> {
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
    return;
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
}
