// `ghostwire watch`: the injected sidecar. Follows its own Pod's role label (PodSource) and the Services of its
// discovery namespace (ServiceSource), and keeps the routing true to both (RouteKeeper): the chain, exactly one
// jump while the role is preview, and, with flipConnections=reset, no connection left on a route that changed.
//
//   API down   the last known role and Services stay in force: nothing is flushed, /healthz stays 200.
//   shutdown   stop the watches, let an iptables or conntrack call in flight finish. The jump is left as it is:
//              removing it while the pod drains would send preview traffic to active.
import { type RuntimeEnvConfig, STATUS_ANNOTATION } from '../../config/index.js';
import type { PodLike } from '../../k8s/lite/objects.js';
import type { Logger } from '../../log.js';
import { VERSION } from '../../version.js';
import type { ConntrackExecutor } from '../connections/conntrack.js';
import type { SocketCloser } from '../connections/sockets.js';
import type { IptablesExecutor } from '../iptables/executor.js';
import { describeMapChange } from '../map-diff.js';
import type { ServiceSource as ListServices } from '../program.js';
import type { WatcherMetrics } from './metrics.js';
import { type EventApi, PodEventRecorder } from './pod-events.js';
import { type PodApi, PodSource, type PodVia } from './pod-source.js';
import { RouteKeeper } from './route-keeper.js';
import { type ServiceApi, ServiceSource } from './service-source.js';

export interface WatcherApi extends PodApi, ServiceApi, ListServices, Partial<EventApi> {}

export interface WatcherOptions {
  config: RuntimeEnvConfig & { podName: string };
  api: WatcherApi;
  executor: IptablesExecutor;
  conntrack: ConntrackExecutor;
  sockets: SocketCloser;
  log: Logger;
  metrics: WatcherMetrics;
  verifyIntervalMs: number;
  resolvConfPath: string;
  /** DNS servers excluded from the chain (resolv.conf, read once at start). */
  nameservers: readonly string[];
  watchTimeoutSeconds?: number;
  /** Record Events on the Pod (needs `events: create, patch` in its namespace). */
  events?: boolean;
}

export interface WatcherHealth {
  ok: boolean;
  labelsRead: boolean;
  chainVerified: boolean;
  role: string | null;
  watch: 'up' | 'down';
  serviceWatch: 'up' | 'down';
}

export class Watcher {
  private readonly routes: RouteKeeper;
  private readonly pod: PodSource;
  private readonly services: ServiceSource;
  private readonly events: PodEventRecorder | undefined;
  private role: string | undefined;
  private labelsRead = false;
  private timers: NodeJS.Timeout[] = [];
  private apiDownSince: number | undefined;

  constructor(private readonly o: WatcherOptions) {
    const { config, api, log, metrics } = o;
    this.events = o.events && api.createEvent && api.patchEvent
      ? new PodEventRecorder({ api: api as EventApi, reporter: { component: 'ghostwire.dev/watcher', instance: config.podName }, log, metrics })
      : undefined;
    this.services = new ServiceSource({
      api,
      namespace: config.effectiveNamespace,
      watchTimeoutSeconds: o.watchTimeoutSeconds,
      log,
      metrics,
      onChange: (_names, arrival) => this.routes.servicesChanged(arrival),
      onHealth: (up, reason) => this.apiHealth(up, reason),
    });
    this.routes = new RouteKeeper({
      config,
      services: this.services,
      lister: api,
      nameservers: o.nameservers,
      executor: o.executor,
      conntrack: o.conntrack,
      sockets: o.sockets,
      log,
      metrics,
      resolvConfPath: o.resolvConfPath,
      watchesHealthy: () => this.pod.watchIsUp && this.services.watchIsUp,
      report: {
        jump: (want) => this.events?.record('GhostwireRoleChanged', 'Normal', `role ${this.role === undefined ? '(none)' : JSON.stringify(this.role)}: ${want ? `jump to ${config.natChain} installed, preview Services in use` : `no jump, active Services in use`}`),
        reprogram: (cause, change) => this.events?.record('GhostwireRulesReprogrammed', 'Normal', `rules reprogrammed (${cause}): ${cause === 'repair' ? 'the chain was missing or edited' : describeMapChange(change)}`),
        reset: (trigger, deleted) => this.events?.record('GhostwireConnectionsReset', 'Normal', `reset ${deleted} connection(s) whose route changed (${trigger === 'role' ? 'role flip' : 'Service change'})`),
      },
    });
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
      onHealth: (up, reason) => this.apiHealth(up, reason),
    });
  }

  get healthy(): boolean {
    return this.labelsRead && this.routes.chainVerified;
  }

  health(): WatcherHealth {
    return {
      ok: this.healthy,
      labelsRead: this.labelsRead,
      chainVerified: this.routes.chainVerified,
      role: this.role ?? null,
      watch: this.pod.watchIsUp ? 'up' : 'down',
      serviceWatch: this.services.watchIsUp ? 'up' : 'down',
    };
  }

  start(): void {
    const { config, verifyIntervalMs } = this.o;
    this.routes.requestVerify(); // verify (or build) the chain before the labels are known; the jump is left alone
    this.pod.start();
    this.services.start();
    this.every(verifyIntervalMs, () => this.routes.requestVerify());
    if (config.refreshIntervalMs > 0) this.every(config.refreshIntervalMs, () => this.routes.requestRefresh());
  }

  /** Stop the watches and timers; resolves once an iptables or conntrack call in flight has finished. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.events?.stop();
    await Promise.all([this.pod.stop(), this.services.stop()]);
    await this.routes.stop();
  }

  private every(ms: number, fn: () => void): void {
    this.timers.push(setInterval(fn, ms));
  }

  private onPod(pod: PodLike, via: PodVia, arrival: bigint): void {
    const { roleLabelKey, rolePreview, roleActive, podNamespace, podName } = this.o.config;
    const role = pod.metadata?.labels?.[roleLabelKey];
    const want = role === rolePreview;
    if (!this.labelsRead || role !== this.role) {
      const meaning = want ? 'preview: jump wanted' : role === roleActive ? 'active: no jump' : role === undefined ? 'label absent: treated as active' : 'unknown value: treated as active';
      this.o.log.info({ role: role ?? null, label: roleLabelKey, via }, `role ${role === undefined ? '(none)' : JSON.stringify(role)} (${meaning})`);
    }
    if (!this.labelsRead) this.o.metrics.info.set({ version: VERSION, config_hash: configHashOf(pod) }, 1);
    const uid = pod.metadata?.uid;
    if (uid) this.events?.setPod({ namespace: podNamespace, name: podName, uid });
    this.labelsRead = true;
    this.role = role;
    this.routes.setWantJump(want, arrival);
  }

  /** One Event when the API becomes unreachable and one when it is back (either watch counts). */
  private apiHealth(up: boolean, reason: string | undefined): void {
    if (!up && reason && this.apiDownSince === undefined) {
      this.apiDownSince = Date.now();
      this.events?.record('GhostwireApiUnreachable', 'Warning', `cannot reach the Kubernetes API (${reason.slice(0, 300)}); the last known role and Services stay in force`);
    } else if (up && this.apiDownSince !== undefined && this.pod.watchIsUp && this.services.watchIsUp) {
      const seconds = Math.round((Date.now() - this.apiDownSince) / 1000);
      this.apiDownSince = undefined;
      this.events?.record('GhostwireApiRecovered', 'Normal', `the Kubernetes API is reachable again after ${seconds} s; role and Services resynchronised`);
    }
  }
}

/** The config hash of the injection, from the status annotation the Pod carries (informational). */
function configHashOf(pod: PodLike): string {
  try {
    const status = JSON.parse(pod.metadata?.annotations?.[STATUS_ANNOTATION] ?? '{}') as { configHash?: unknown };
    return typeof status.configHash === 'string' ? status.configHash.slice(0, 64) : '';
  } catch {
    return '';
  }
}
