// What `ghostwire init` does in the injected init container: discover Services, read its own Pod's role, program
// the DNAT chain AND the jump that role wants in one atomic iptables-restore batch per family, write the DNAT map.
// So the application's first connection is already routed by the role; the watcher takes over from there. Any
// failure throws and leaves the previous rules untouched (the batch is all-or-nothing), so the pod never starts
// half-configured.
import type { RuntimeEnvConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { IptablesExecutor } from './iptables/executor.js';
import { formatDnatMap } from './dnat-map.js';
import { type JumpWish, type ServiceSource, applyPlan, discover } from './program.js';

export interface InitOptions {
  /** Print the payloads and the map instead of touching iptables and files. */
  dryRun: boolean;
  resolvConfPath: string;
  executor: IptablesExecutor;
  stdout: NodeJS.WritableStream;
  now: () => Date;
  /** performance.now() when the process started, for the wall time in the log. */
  started: number;
  /** The jump the Pod's role wants; undefined (no POD_NAME) leaves the hook alone. */
  jump?: JumpWish | undefined;
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
    if (o.jump) o.stdout.write(`### jump: ${o.jump.want ? `-I ${o.jump.hook} 1 -j ${config.natChain} (the role wants preview)` : `none in ${o.jump.hook} (the role is not preview)`}\n\n`);
    o.stdout.write(`### ${config.dnatMapPath}\n${formatDnatMap(plan.map)}`);
    log.info('dry run: iptables and the map file were not touched');
    return;
  }
  try {
    await applyPlan(o.executor, plan, config.dnatMapPath, o.jump);
  } catch (err) {
    throw new Error(`programming failed: ${(err as Error).message}`);
  }
  log.info(
    { chain: config.natChain, families: plan.map.families, rules: plan.map.mappings.length, exclusions: plan.map.exclusions.length, map: config.dnatMapPath, ms: Math.round(performance.now() - o.started) },
    `programmed ${config.natChain} with ${plan.map.mappings.length} DNAT rules and ${plan.map.exclusions.length} exclusions; ${jumpText(o.jump, config)}`,
  );
}

function jumpText(jump: JumpWish | undefined, config: RuntimeEnvConfig): string {
  if (!jump) return 'jump left as it was (no POD_NAME)';
  return jump.want ? `jump to ${config.natChain} first in ${jump.hook} (preview)` : `no jump in ${jump.hook} (active)`;
}
