// The watcher's routing: keeps the DNAT chain equal to the pairing of the namespace's current Services, exactly one
// jump to it (first in GW_JUMP_HOOK) while the role wants one and none otherwise, and, with flipConnections=reset,
// no established connection on a route that is no longer the current one. One operation at a time; requests
// coalesce (a burst of Service events costs a handful of restores).
//
//   desired  the map: init's file until the Service list arrives, then planFromServices(current Services) on every
//            Service change (an event that does not change the pairing changes nothing), or discovery on refresh.
//   apply    per family: iptables-save -> reconcilePlan -> one iptables-restore --noflush batch that rebuilds the
//            chain when its content differs, fixes the jump; then the map file (atomically) when it changed; then
//            the connections whose route differs from the kernel's old routing (conntrack, routes.ts).
//   verify   the same apply, every --verify-interval (local only, no API call): repairs drift.
import { stat } from 'node:fs/promises';
import type { RuntimeEnvConfig } from '../../config/index.js';
import type { ServiceObject } from '../../k8s/lite/objects.js';
import type { Logger } from '../../log.js';
import type { Family } from '../../net/address.js';
import type { ConntrackExecutor } from '../connections/conntrack.js';
import type { SocketCloser } from '../connections/sockets.js';
import { type DnatMap, chainSpecs, formatDnatMap, writeFileAtomic } from '../dnat-map.js';
import type { IptablesExecutor } from '../iptables/executor.js';
import { type ChainSpec, type ChainState, parseSave, reconcilePlan } from '../iptables/rules.js';
import { type MapChange, describeMapChange, diffMaps, mapContentKey } from '../map-diff.js';
import { type ServiceSource as ListServices, discover, planFromServices } from '../program.js';
import { type Reroute, type Route, changedRoutes, desiredRouting, routesOf, savedRouting } from '../routes.js';
import { resetConnections } from './connection-reset.js';
import type { ReprogramCause, WatcherMetrics } from './metrics.js';
import { loadInitialMap } from './initial-map.js';

export interface RouteKeeperOptions {
  config: RuntimeEnvConfig;
  /** The live Services (undefined until listed) and a lister for refreshes and a missing map. */
  services: { listed: boolean; snapshot(): ServiceObject[] };
  lister: ListServices;
  nameservers: readonly string[];
  executor: IptablesExecutor;
  conntrack: ConntrackExecutor;
  sockets: SocketCloser;
  log: Logger;
  metrics: WatcherMetrics;
  resolvConfPath: string;
  /** Both watches are established: a verify then counts as a sync with the cluster. */
  watchesHealthy: () => boolean;
  /** Reports for Events (role flips, reprograms, resets). */
  report?: Partial<RouteReports>;
  /** Coalescing window for Service events. */
  serviceDebounceMs?: number;
}

export interface RouteReports {
  jump(want: boolean): void;
  reprogram(cause: ReprogramCause, change: MapChange): void;
  reset(trigger: 'role' | 'services', deleted: number): void;
}

interface FamilyOutcome {
  /** The kernel's chain before: ok, missing or drifted (from the map the watcher last applied, or another writer). */
  state: ChainState;
  changedChain: boolean;
  changedJump: boolean;
  drifted: boolean;
  rerouted: Reroute[];
  /** Every destination's route as it is now (for a full connection check). */
  routes: Route[];
}

export class RouteKeeper {
  private wantJump: boolean | undefined;
  private appliedJump: boolean | undefined;
  private verified = false;
  private stopping = false;
  private pending = { verify: false, services: false, refresh: false };
  private roleArrival: bigint | undefined;
  private serviceArrival: bigint | undefined;
  /** When the Service change behind the desired map that is being applied arrived. */
  private changeArrival: bigint | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private desired: DnatMap | undefined;
  private appliedKey = new Map<Family, string>();
  private writtenKey: string | undefined;
  private writtenFile: string | undefined;
  private resetOwed = false;
  private cause: ReprogramCause = 'repair';
  /** What the last new desired map changed, for the log line and the Event of the apply that programs it. */
  private lastChange: MapChange | undefined;

  constructor(private readonly o: RouteKeeperOptions) {}

  /** The kernel was last verified equal to the desired routing. */
  get chainVerified(): boolean {
    return this.verified;
  }

  /** The role's wish; `arrival` (hrtime of the role change) measures the label-to-jump latency. */
  setWantJump(want: boolean, arrival: bigint | undefined): void {
    if (want === this.wantJump) return;
    this.wantJump = want;
    this.roleArrival ??= arrival;
    this.request('verify');
  }

  /** The Service set changed; processed after a short window so that bursts coalesce. */
  servicesChanged(arrival: bigint): void {
    this.serviceArrival ??= arrival;
    this.pending.services = true;
    if (this.debounce || this.stopping) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.kick();
    }, this.o.serviceDebounceMs ?? 20);
  }

  requestVerify(): void {
    this.request('verify');
  }

  requestRefresh(): void {
    this.request('refresh');
  }

  /** Stops taking work; resolves once an iptables or conntrack call in flight has finished. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.debounce);
    await this.running;
  }

  private request(what: 'verify' | 'refresh'): void {
    this.pending[what] = true;
    this.kick();
  }

  private kick(): void {
    if (this.running || this.stopping) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      const { verify, services, refresh } = this.pending;
      if ((verify || refresh || (services && !this.debounce)) && !this.stopping) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (!this.stopping && (this.pending.verify || this.pending.refresh || (this.pending.services && !this.debounce))) {
      const { refresh, services } = this.pending;
      this.pending = { verify: false, services: this.pending.services && !!this.debounce, refresh: false };
      if (refresh) await this.refresh();
      else if (services) this.fromServices();
      await this.apply();
    }
  }

  /** The desired map from the live Services; a change that leaves the pairing as it is changes nothing. */
  private fromServices(): void {
    if (!this.o.services.listed) return;
    const plan = planFromServices(this.o.services.snapshot(), this.o.config, this.o.nameservers, new Date());
    const arrival = this.serviceArrival;
    this.serviceArrival = undefined;
    if (this.desired && mapContentKey(plan.map) === mapContentKey(this.desired)) return;
    this.setDesired(plan.map, 'services');
    this.changeArrival = arrival;
  }

  /** GW_REFRESH_INTERVAL: a fresh list through the API, as init does (belt and braces next to the watch). */
  private async refresh(): Promise<void> {
    const { lister, config, log, metrics } = this.o;
    try {
      metrics.apiRequests.inc({ kind: 'list' });
      const plan = await discover(lister, config, log, { resolvConfPath: this.o.resolvConfPath });
      metrics.refreshes.inc({ result: 'ok' });
      if (!this.desired || mapContentKey(plan.map) !== mapContentKey(this.desired)) this.setDesired(plan.map, 'refresh');
    } catch (err) {
      metrics.refreshes.inc({ result: 'error' });
      metrics.errors.inc({ type: 'refresh' });
      log.error(`refresh by discovery failed; the current rules stay: ${(err as Error).message}`);
    }
  }

  private setDesired(map: DnatMap, cause: ReprogramCause): void {
    const change = diffMaps(this.desired, map);
    this.desired = map;
    this.cause = cause;
    const { metrics } = this.o;
    metrics.dnatRules.reset();
    const counts = new Map<string, number>();
    for (const m of map.mappings) counts.set(m.service, (counts.get(m.service) ?? 0) + 1);
    for (const [service, n] of counts) metrics.dnatRules.set({ service }, n);
    this.lastChange = change;
  }

  /** The desired map: in memory, else init's file, else discovery (a pod whose map is gone). */
  private async desiredMap(): Promise<DnatMap | undefined> {
    if (this.desired) return this.desired;
    const loaded = await loadInitialMap(this.o);
    if (loaded) {
      this.setDesired(loaded.map, 'repair');
      this.writtenKey = loaded.fromFile ? mapContentKey(loaded.map) : undefined;
      this.writtenFile = loaded.fromFile ? await fileIdentity(this.o.config.dnatMapPath) : undefined;
      this.lastChange = undefined;
    }
    return this.desired;
  }

  private async apply(): Promise<void> {
    const { log, metrics } = this.o;
    const map = await this.desiredMap();
    if (!map) {
      this.verified = false;
      return;
    }
    const want = this.wantJump;
    // The role change this apply carries out (a later one waits for the next apply).
    const roleArrival = this.roleArrival;
    this.roleArrival = undefined;
    const outcomes: Array<FamilyOutcome & { family: Family }> = [];
    try {
      for (const spec of chainSpecs(map)) outcomes.push({ family: spec.family, ...(await this.applyFamily(spec, want)) });
    } catch (err) {
      metrics.errors.inc({ type: 'iptables' });
      this.verified = false;
      this.roleArrival ??= roleArrival;
      log.error(`iptables reconcile failed (retrying every verify interval): ${(err as Error).message}`);
      return;
    }
    this.verified = true;
    await this.writeMap(map);
    this.account(outcomes, want, roleArrival);
    await this.resetIfNeeded(outcomes);
    if (this.o.watchesHealthy()) metrics.lastSync.set(Date.now() / 1000);
  }

  /** One family: save, plan, restore; a restore that lost a race with another writer is tried once more. */
  private async applyFamily(spec: ChainSpec, want: boolean | undefined): Promise<FamilyOutcome> {
    const { config, executor, log } = this.o;
    for (let attempt = 1; ; attempt++) {
      const saved = parseSave(await executor.save(spec.family));
      const plan = reconcilePlan({ saved, spec, hook: config.jumpHook, wantJump: want });
      const before = savedRouting(saved, spec.chain, config.jumpHook);
      const after = desiredRouting(spec, want ?? before.jump);
      const routes = [...routesOf(after, spec.family).values()];
      const specKey = JSON.stringify([spec.exclusions, spec.rules]);
      if (!plan.payload) {
        this.appliedKey.set(spec.family, specKey);
        return { state: 'ok', changedChain: false, changedJump: false, drifted: false, rerouted: [], routes };
      }
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
      const changedChain = plan.chain !== 'ok';
      const drifted = changedChain && this.appliedKey.get(spec.family) === specKey;
      this.appliedKey.set(spec.family, specKey);
      return { state: plan.chain, changedChain, changedJump: plan.deletes > 0 || plan.insert, drifted, rerouted: changedRoutes(before, after, spec.family), routes };
    }
  }

  /** The map file is a record of the desired state: written when that changes, rewritten when someone changed it. */
  private async writeMap(map: DnatMap): Promise<void> {
    const path = this.o.config.dnatMapPath;
    const key = mapContentKey(map);
    const identity = await fileIdentity(path);
    if (key === this.writtenKey && identity === this.writtenFile) return;
    if (key === this.writtenKey) this.o.log.warn(`DNAT map ${path} changed behind the watcher; rewritten`);
    try {
      await writeFileAtomic(path, formatDnatMap(map));
      this.writtenKey = key;
      this.writtenFile = await fileIdentity(path);
    } catch (err) {
      this.o.metrics.errors.inc({ type: 'map' });
      this.o.log.error(`the rules are programmed but the map ${this.o.config.dnatMapPath} could not be written: ${(err as Error).message}`);
    }
  }

  /** Metrics, one log line and one report per change, naming what changed. */
  private account(outcomes: ReadonlyArray<FamilyOutcome & { family: Family }>, want: boolean | undefined, roleArrival: bigint | undefined): void {
    const { config, log, metrics } = this.o;
    const chainChanged = outcomes.some((o) => o.changedChain);
    const jumpChanged = outcomes.some((o) => o.changedJump);
    if (chainChanged) {
      const cause: ReprogramCause = outcomes.every((o) => !o.changedChain || o.drifted) ? 'repair' : this.cause;
      metrics.reprograms.inc({ cause });
      for (const o of outcomes) {
        if (!o.changedChain || (cause !== 'repair' && !o.drifted)) continue;
        metrics.repairs.inc({ reason: o.state });
        log.warn({ family: o.family, state: o.state }, `chain ${config.natChain} was ${o.state} (IPv${o.family}); rebuilt from the desired state`);
      }
      const change = this.lastChange ?? { added: [], removed: [], rewritten: [] };
      const ms = cause === 'services' && this.changeArrival !== undefined ? Number(process.hrtime.bigint() - this.changeArrival) / 1e6 : undefined;
      if (ms !== undefined) metrics.serviceLatency.observe(ms / 1000);
      if (cause !== 'repair') log.info({ cause, added: change.added.length, removed: change.removed.length, rewritten: change.rewritten.length, latencyMs: ms === undefined ? null : Math.round(ms * 100) / 100 }, `rules reprogrammed (${cause}): ${describeMapChange(change)}`);
      this.o.report?.reprogram?.(cause, change);
    }
    this.changeArrival = undefined;
    this.lastChange = undefined;
    if (want === undefined) return;
    metrics.jumpState.set({ state: 'preview' }, want ? 1 : 0);
    metrics.jumpState.set({ state: 'active' }, want ? 0 : 1);
    if (jumpChanged) {
      const ms = roleArrival !== undefined ? Number(process.hrtime.bigint() - roleArrival) / 1e6 : undefined;
      if (ms !== undefined) metrics.latency.observe(ms / 1000);
      if (want !== this.appliedJump) metrics.reprograms.inc({ cause: 'role' });
      log.info({ hook: config.jumpHook, latencyMs: ms === undefined ? null : Math.round(ms * 100) / 100 }, want ? `jump to ${config.natChain} installed at ${config.jumpHook} position 1 (preview)` : `jump to ${config.natChain} removed (active)`);
    }
    // A flip is a change of the role the keeper already served; the first role it learns is not one.
    if (this.appliedJump !== undefined && want !== this.appliedJump) this.o.report?.jump?.(want);
    this.appliedJump = want;
  }

  /** With flipConnections=reset: connections whose route changed (or a reset owed from a failed attempt). */
  private async resetIfNeeded(outcomes: ReadonlyArray<FamilyOutcome & { family: Family }>): Promise<void> {
    if (this.o.config.flipConnections !== 'reset') return;
    const rerouted = outcomes.flatMap((o) => o.rerouted);
    if (rerouted.length === 0 && !this.resetOwed) return;
    const trigger = outcomes.some((o) => o.changedJump) ? 'role' : 'services';
    const routes = new Map<Family, Route[]>(outcomes.map((o) => [o.family, [...o.routes, ...o.rerouted]]));
    const outcome = await resetConnections(this.o, routes, rerouted, () => this.pending.verify || this.pending.refresh || (this.pending.services && !this.debounce));
    this.resetOwed = outcome === undefined || !outcome.clean;
    if (outcome === undefined) return;
    this.o.metrics.conntrackResets.inc({ trigger }, outcome.deleted);
    this.o.metrics.socketsClosed.inc({ trigger }, outcome.closed);
    if (outcome.deleted > 0) this.o.report?.reset?.(trigger, outcome.deleted);
  }
}

/** inode, size and mtime of a file ("" when it does not exist): enough to notice that someone else wrote it. */
async function fileIdentity(path: string): Promise<string> {
  try {
    const st = await stat(path);
    return `${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return '';
  }
}
