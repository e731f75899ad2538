// The watcher's iptables side: keeps the chain equal to the DNAT map and exactly one jump to it (first in
// GW_JUMP_HOOK) while the role wants one, none otherwise. One operation at a time; requests coalesce.
//
//   verify   iptables-save -t nat -> compare with the map -> one iptables-restore --noflush batch per family that
//            rebuilds the chain if it was flushed, deleted or edited, deletes extra or stale jumps and inserts the
//            jump at position 1. Runs on role changes, every --verify-interval (local only, no API call), and after
//            a rebuild.
//   rebuild  discovery (the same code as init) -> new chain and map (GW_REFRESH_INTERVAL, or no usable map).
import { readFile, stat } from 'node:fs/promises';
import type { RuntimeEnvConfig } from '../../config/index.js';
import type { Logger } from '../../log.js';
import { type DnatMap, chainSpecs, parseDnatMap } from '../dnat-map.js';
import type { IptablesExecutor } from '../iptables/executor.js';
import { type ChainSpec, type ChainState, parseSave, reconcilePlan } from '../iptables/rules.js';
import { type ServiceSource, applyPlan, discover } from '../program.js';
import type { WatcherMetrics } from './metrics.js';

export interface ChainKeeperOptions {
  config: RuntimeEnvConfig;
  services: ServiceSource;
  executor: IptablesExecutor;
  log: Logger;
  metrics: WatcherMetrics;
  resolvConfPath: string;
}

interface FamilyResult {
  changed: boolean;
  repaired?: { family: number; state: ChainState };
}

export class ChainKeeper {
  private wantJump: boolean | undefined;
  private jumpInstalled: boolean | undefined;
  private verified = false;
  private stopping = false;
  private verifyPending = false;
  private rebuildPending: string | undefined;
  private pendingArrival: bigint | undefined;
  private running: Promise<void> | undefined;
  private map: { map: DnatMap; key: string } | undefined;

  constructor(private readonly o: ChainKeeperOptions) {}

  /** The chain was last verified equal to the map (and the jump to the role). */
  get chainVerified(): boolean {
    return this.verified;
  }

  /** The role's wish; `arrival` (hrtime of the role change) measures the label-to-jump latency. */
  setWantJump(want: boolean, arrival: bigint | undefined): void {
    if (want === this.wantJump) return;
    this.wantJump = want;
    if (this.pendingArrival === undefined) this.pendingArrival = arrival;
    this.requestVerify();
  }

  requestVerify(): void {
    this.verifyPending = true;
    this.kick();
  }

  requestRebuild(why: string): void {
    this.rebuildPending = why;
    this.kick();
  }

  /** Stops taking work; resolves once an iptables call in flight has finished. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
  }

  private kick(): void {
    if (this.running || this.stopping) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if ((this.verifyPending || this.rebuildPending) && !this.stopping) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (!this.stopping && (this.verifyPending || this.rebuildPending)) {
      if (this.rebuildPending) {
        const why = this.rebuildPending;
        this.rebuildPending = undefined;
        await this.rebuild(why);
        this.verifyPending = true;
      }
      if (this.verifyPending && !this.stopping) {
        this.verifyPending = false;
        const arrival = this.pendingArrival;
        this.pendingArrival = undefined;
        await this.verify(arrival);
      }
    }
  }

  /** Full rebuild by discovery (same code as init), then rewrite the map. */
  private async rebuild(why: string): Promise<boolean> {
    const { services, config, executor, log, metrics } = this.o;
    try {
      metrics.apiRequests.inc({ kind: 'list' });
      const plan = await discover(services, config, log, { resolvConfPath: this.o.resolvConfPath });
      await applyPlan(executor, plan, config.dnatMapPath);
      this.setMap(plan.map, undefined);
      metrics.refreshes.inc({ result: 'ok' });
      log.info({ why, rules: plan.map.mappings.length }, `chain ${config.natChain} rebuilt by discovery (${why})`);
      return true;
    } catch (err) {
      metrics.refreshes.inc({ result: 'error' });
      metrics.errors.inc({ type: 'refresh' });
      log.error(`rebuild by discovery (${why}) failed; previous rules kept: ${(err as Error).message}`);
      return false;
    }
  }

  private setMap(map: DnatMap, key: string | undefined): void {
    this.map = { map, key: key ?? '' };
    this.o.metrics.dnatRules.reset();
    const counts = new Map<string, number>();
    for (const m of map.mappings) counts.set(m.service, (counts.get(m.service) ?? 0) + 1);
    for (const [service, n] of counts) this.o.metrics.dnatRules.set({ service }, n);
  }

  /** The map from the file (re-read only when it changed on disk), or undefined when missing or invalid. */
  private async loadMap(): Promise<DnatMap | undefined> {
    const path = this.o.config.dnatMapPath;
    let key: string;
    try {
      const st = await stat(path);
      key = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.o.log.warn(`DNAT map ${path} is missing; rebuilding by discovery`);
      } else {
        this.o.metrics.errors.inc({ type: 'map' });
        this.o.log.error(`DNAT map ${path} unreadable: ${(err as Error).message}`);
      }
      return undefined;
    }
    if (this.map && this.map.key === key) return this.map.map;
    try {
      const map = parseDnatMap(await readFile(path, 'utf8'), path);
      if (map.chain !== this.o.config.natChain) this.o.log.warn(`DNAT map ${path} names chain ${map.chain}, GW_NAT_CHAIN is ${this.o.config.natChain}; following the map`);
      this.setMap(map, key);
      return map;
    } catch (err) {
      this.o.metrics.errors.inc({ type: 'map' });
      this.o.log.error(`${(err as Error).message}; rebuilding by discovery`);
      return undefined;
    }
  }

  /** The usable map: the file, else a rebuild by discovery (its own write is then recorded as known). */
  private async currentMap(): Promise<DnatMap | undefined> {
    const map = await this.loadMap();
    if (map) return map;
    if (!(await this.rebuild('no usable map'))) return undefined;
    const rebuilt = (this.map as { map: DnatMap }).map;
    await this.loadMap();
    return rebuilt;
  }

  /** One family: save, plan, restore; a restore that lost a race with another writer is tried once more. */
  private async verifyFamily(spec: ChainSpec, want: boolean | undefined): Promise<FamilyResult> {
    const { config, executor, log, metrics } = this.o;
    for (let attempt = 1; ; attempt++) {
      const saved = parseSave(await executor.save(spec.family));
      const plan = reconcilePlan({ saved, spec, hook: config.jumpHook, wantJump: want });
      if (!plan.payload) return { changed: false };
      try {
        await executor.restore(spec.family, plan.payload);
      } catch (err) {
        // The hook may have changed between save and restore (a -D of a rule that moved): try once more.
        if (attempt < 2) continue;
        throw err;
      }
      if (plan.deletes > 0 && want !== undefined && (plan.jumpsBefore > 1 || (want && plan.insert && plan.jumpsBefore === 1))) {
        log.warn({ family: spec.family, jumpsBefore: plan.jumpsBefore }, `fixed ${plan.jumpsBefore} existing jump(s) to ${spec.chain} (duplicate, stale hook or not first in ${config.jumpHook})`);
      }
      const result: FamilyResult = { changed: plan.deletes > 0 || plan.insert };
      if (plan.chain !== 'ok') {
        result.repaired = { family: spec.family, state: plan.chain };
        metrics.repairs.inc({ reason: plan.chain });
      }
      return result;
    }
  }

  private async verify(arrival: bigint | undefined): Promise<void> {
    const { config, log, metrics } = this.o;
    const map = await this.currentMap();
    if (!map) {
      this.verified = false;
      return;
    }
    const want = this.wantJump;
    const results: FamilyResult[] = [];
    try {
      for (const spec of chainSpecs(map)) results.push(await this.verifyFamily(spec, want));
    } catch (err) {
      metrics.errors.inc({ type: 'iptables' });
      this.verified = false;
      log.error(`iptables reconcile failed (retrying every verify interval): ${(err as Error).message}`);
      if (arrival !== undefined && this.pendingArrival === undefined) this.pendingArrival = arrival;
      return;
    }
    for (const r of results) {
      if (r.repaired) log.warn({ family: r.repaired.family, state: r.repaired.state }, `chain ${map.chain} was ${r.repaired.state} (IPv${r.repaired.family}); rebuilt from ${config.dnatMapPath}`);
    }
    this.verified = true;
    if (want !== undefined) this.reportJump(want, results.some((r) => r.changed), arrival, map.chain);
  }

  private reportJump(want: boolean, changed: boolean, arrival: bigint | undefined, chain: string): void {
    const { config, log, metrics } = this.o;
    metrics.jumpState.set({ state: 'preview' }, want ? 1 : 0);
    metrics.jumpState.set({ state: 'active' }, want ? 0 : 1);
    if (changed || this.jumpInstalled !== want) {
      const ms = arrival !== undefined ? Number(process.hrtime.bigint() - arrival) / 1e6 : undefined;
      if (ms !== undefined && changed) metrics.latency.observe(ms / 1000);
      if (changed) {
        log.info({ hook: config.jumpHook, chain, latencyMs: ms === undefined ? null : Math.round(ms * 100) / 100 }, want ? `jump to ${chain} installed at ${config.jumpHook} position 1 (preview)` : `jump to ${chain} removed (active)`);
      }
    }
    this.jumpInstalled = want;
  }
}
