// The one pipeline behind `ghostwire init` and the watcher's periodic refresh:
//   list Services -> pair (discovery.ts) -> exclusions -> DnatMap -> one iptables-restore batch per family -> map file.
// The chain is always programmed FROM the map (chainSpecs), so a watcher that rebuilds the chain from the map file
// writes exactly the rules init wrote.
import { readFile } from 'node:fs/promises';
import type { Logger } from '../log.js';
import type { RuntimeEnvConfig } from '../config/env.js';
import { pairServices, type ServiceLike } from './discovery.js';
import { buildExclusions, resolvNameservers, DEFAULT_RESOLV_CONF } from './exclusions.js';
import { cidrContains, type Family } from '../net/address.js';
import type { JumpHook } from '../config/options.js';
import { type ChainSpec, chainRestorePayload, parseSave, reconcilePlan } from './iptables/rules.js';
import type { IptablesExecutor } from './iptables/executor.js';
import { chainSpecs, formatDnatMap, writeFileAtomic, MAP_FORMAT, type DnatMap, type MapMapping } from './dnat-map.js';

export interface ServiceSource {
  listServices(namespace: string): Promise<ServiceLike[]>;
}

export interface Plan {
  map: DnatMap;
  /** One restore payload per programmed family, in family order. */
  payloads: Array<{ family: Family; payload: string }>;
}

export async function readResolvConf(path = DEFAULT_RESOLV_CONF): Promise<string[]> {
  try {
    return resolvNameservers(await readFile(path, 'utf8'));
  } catch (err) {
    // A pod always has one; outside a pod (dry runs on a laptop) its absence only drops the DNS exclusion.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Pure part: Services + settings -> map (with every reason) and payloads. */
export function planFromServices(
  services: readonly ServiceLike[],
  config: RuntimeEnvConfig,
  nameservers: readonly string[],
  now: Date,
): Plan & { pairing: ReturnType<typeof pairServices> } {
  const pairing = pairServices(services, {
    previewPattern: config.svcPreviewPattern,
    activeSuffix: config.activeSuffix,
    previewSuffix: config.previewSuffix,
    ipv6: config.ipv6,
  });
  const families: Family[] = config.ipv6 ? [4, 6] : [4];
  const exclusions = buildExclusions({ families, nameservers, extra: config.excludeCidrs });
  const mappings: MapMapping[] = pairing.mappings.map((m) => {
    const out: MapMapping = {
      family: m.family,
      service: m.service,
      preview: m.preview,
      scheme: m.scheme,
      protocol: m.protocol,
      port: m.port,
      activeIP: m.activeIP,
      previewIP: m.previewIP,
    };
    if (m.portName) out.portName = m.portName;
    return out;
  });
  const map: DnatMap = {
    format: MAP_FORMAT,
    generatedAt: now.toISOString(),
    namespace: config.effectiveNamespace,
    dnsSuffix: config.dnsSuffix,
    chain: config.natChain,
    families,
    exclusions,
    mappings,
    skipped: pairing.skipped.map((s) => (s.preview ? { service: s.service, preview: s.preview, code: s.code, reason: s.reason } : { service: s.service, code: s.code, reason: s.reason })),
    conflicts: pairing.conflicts.map((c) => ({ loser: c.loser, winner: c.winner })),
  };
  const payloads = chainSpecs(map).map((spec) => ({ family: spec.family, payload: chainRestorePayload(spec) }));
  return { map, payloads, pairing };
}

/** List, pair and log every decision (one line per skip and per conflict loser). */
export async function discover(
  source: ServiceSource,
  config: RuntimeEnvConfig,
  log: Logger,
  opts: { resolvConfPath?: string; now?: () => Date } = {},
): Promise<Plan> {
  const services = await source.listServices(config.effectiveNamespace);
  const nameservers = await readResolvConf(opts.resolvConfPath);
  const plan = planFromServices(services, config, nameservers, (opts.now ?? (() => new Date()))());
  for (const s of plan.pairing.skipped) {
    log.info({ service: s.service, preview: s.preview, code: s.code, partial: s.partial }, `skipping ${s.service}${s.preview ? ` -> ${s.preview}` : ''}: ${s.reason}`);
  }
  for (const c of plan.pairing.conflicts) {
    log.warn({ loser: c.loser, winner: c.winner }, `pairing conflict: ${c.reason}`);
  }
  for (const m of plan.map.mappings) {
    const hit = plan.map.exclusions.find((e) => e.family === m.family && cidrContains(e.cidr, m.activeIP));
    if (hit) {
      log.warn({ service: m.service, activeIP: m.activeIP, exclusion: hit.cidr }, `${m.service} ClusterIP ${m.activeIP} is excluded by ${hit.cidr} (${hit.source}): its DNAT rule never matches`);
    }
  }
  log.info(
    {
      namespace: config.effectiveNamespace,
      services: services.length,
      pairs: plan.pairing.pairs.length,
      rules: plan.map.mappings.length,
      exclusions: plan.map.exclusions.length,
      skipped: plan.map.skipped.length,
      conflicts: plan.map.conflicts.length,
    },
    `discovered ${plan.pairing.pairs.length} Service pairs (${plan.map.mappings.length} DNAT rules) among ${services.length} Services in ${config.effectiveNamespace}`,
  );
  return plan;
}

/** The batch of one family: the chain as planned, and with `jump` also the jump the role wants (reconcilePlan). */
async function familyPayload(executor: IptablesExecutor, spec: ChainSpec, payload: string, jump: JumpWish | undefined): Promise<string | null> {
  if (!jump) return payload;
  const saved = parseSave(await executor.save(spec.family));
  return reconcilePlan({ saved, spec, hook: jump.hook, wantJump: jump.want }).payload;
}

export interface JumpWish {
  hook: JumpHook;
  /** The pod's role wants the jump (preview). */
  want: boolean;
}

/**
 * Program every family (each one atomic batch: the chain, and with `jump` the jump in the same transaction), then
 * write the map atomically. Throws on the first failure.
 */
export async function applyPlan(executor: IptablesExecutor, plan: Plan, mapPath: string, jump?: JumpWish): Promise<void> {
  const done: Family[] = [];
  const specs = chainSpecs(plan.map);
  for (const { family, payload } of plan.payloads) {
    try {
      const batch = await familyPayload(executor, specs.find((s) => s.family === family) as ChainSpec, payload, jump);
      if (batch) await executor.restore(family, batch);
    } catch (err) {
      const already = done.length > 0 ? ` (IPv${done.join('/IPv')} chain already replaced)` : '';
      throw new Error(`IPv${family} chain ${plan.map.chain} unchanged${already}: ${(err as Error).message}`);
    }
    done.push(family);
  }
  try {
    await writeFileAtomic(mapPath, formatDnatMap(plan.map));
  } catch (err) {
    throw new Error(`chain programmed but the map ${mapPath} could not be written: ${(err as Error).message}`);
  }
}
