// `ghostwire watch`: the injected sidecar. Follows its own Pod's role label (PodSource) and keeps exactly one jump
// to the DNAT chain in GW_JUMP_HOOK while the role is "preview", none otherwise (ChainKeeper).
//
//   shutdown  stop the watch, let an iptables call in flight finish. The jump is left as it is: removing it while
//             the pod drains would send preview traffic to active.
import type { RuntimeEnvConfig } from '../../config/index.js';
import type { PodLike } from '../../k8s/lite/objects.js';
import type { Logger } from '../../log.js';
import type { IptablesExecutor } from '../iptables/executor.js';
import type { ServiceSource } from '../program.js';
import { ChainKeeper } from './chain-keeper.js';
import type { WatcherMetrics } from './metrics.js';
import { type PodApi, PodSource, type PodVia } from './pod-source.js';

export interface WatcherApi extends PodApi, ServiceSource {}

export interface WatcherOptions {
  config: RuntimeEnvConfig & { podName: string };
  api: WatcherApi;
  executor: IptablesExecutor;
  log: Logger;
  metrics: WatcherMetrics;
  verifyIntervalMs: number;
  resolvConfPath: string;
  watchTimeoutSeconds?: number;
}

export interface WatcherHealth {
  ok: boolean;
  labelsRead: boolean;
  chainVerified: boolean;
  role: string | null;
  watch: 'up' | 'down';
}

export class Watcher {
  private readonly chain: ChainKeeper;
  private readonly pod: PodSource;
  private role: string | undefined;
  private labelsRead = false;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly o: WatcherOptions) {
    const { config, api, executor, log, metrics } = o;
    this.chain = new ChainKeeper({ config, services: api, executor, log, metrics, resolvConfPath: o.resolvConfPath });
    this.pod = new PodSource({
      api,
      // The Pod lives in its own namespace; GW_NAMESPACE only says where Services are discovered.
      namespace: config.podNamespace,
      name: config.podName,
      pollIntervalMs: config.pollIntervalMs,
      watchTimeoutSeconds: o.watchTimeoutSeconds,
      log,
      metrics,
      onPod: (pod, via, arrival) => this.onPod(pod, via, arrival),
    });
  }

  get healthy(): boolean {
    return this.labelsRead && this.chain.chainVerified;
  }

  health(): WatcherHealth {
    return { ok: this.healthy, labelsRead: this.labelsRead, chainVerified: this.chain.chainVerified, role: this.role ?? null, watch: this.pod.watchIsUp ? 'up' : 'down' };
  }

  start(): void {
    const { config, verifyIntervalMs } = this.o;
    this.chain.requestVerify(); // verify (or build) the chain before the labels are known; the jump is left alone
    this.pod.start();
    this.every(verifyIntervalMs, () => this.chain.requestVerify());
    if (config.refreshIntervalMs > 0) this.every(config.refreshIntervalMs, () => this.chain.requestRebuild('refresh interval'));
  }

  /** Stop the watch and timers; resolves once an iptables call in flight has finished. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.pod.stop();
    await this.chain.stop();
  }

  private every(ms: number, fn: () => void): void {
    this.timers.push(setInterval(fn, ms));
  }

  private onPod(pod: PodLike, via: PodVia, arrival: bigint): void {
    const { roleLabelKey, rolePreview, roleActive } = this.o.config;
    const role = pod.metadata?.labels?.[roleLabelKey];
    const want = role === rolePreview;
    if (!this.labelsRead || role !== this.role) {
      const meaning = want ? 'preview: jump wanted' : role === roleActive ? 'active: no jump' : role === undefined ? 'label absent: treated as active' : 'unknown value: treated as active';
      this.o.log.info({ role: role ?? null, label: roleLabelKey, via }, `role ${role === undefined ? '(none)' : JSON.stringify(role)} (${meaning})`);
    }
    this.labelsRead = true;
    this.role = role;
    this.chain.setWantJump(want, arrival);
  }
}
