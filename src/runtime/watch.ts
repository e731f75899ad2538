// `ghostwire watch`: the injected sidecar. Follows its own Pod's role label and keeps exactly one jump to the
// DNAT chain in GW_JUMP_HOOK while the role is "preview", none otherwise.
//
//   label source  GET the Pod once, then WATCH it (fieldSelector metadata.name=POD_NAME) from that resourceVersion.
//                 A normal end of the stream (server timeout) re-watches from the last resourceVersion without a
//                 GET; 410 Gone / expired resourceVersion re-lists (one GET). Only while the watch is down does a
//                 GW_POLL_INTERVAL poll run, with exponential backoff on API errors for both.
//   reconcile     iptables-save -t nat -> compare with the map -> one iptables-restore --noflush batch that rebuilds
//                 the chain if it was flushed/deleted/edited, deletes extra or stale jumps and inserts the jump at
//                 position 1. Runs on label changes, every --verify-interval (local only, no API call), after a
//                 GW_REFRESH_INTERVAL rebuild, and never concurrently with itself.
//   endpoints     /healthz (200 once the labels were read and the chain verified) and /metrics (prom-client).
//   shutdown      SIGTERM/SIGINT: stop the watch, let an iptables call in flight finish, exit 0. The jump is left as
//                 it is: removing it while the pod drains would send preview traffic to active.
import http from 'node:http';
import { stat, readFile, unlink } from 'node:fs/promises';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { configFromEnv, formatFieldErrors, fieldError, type RuntimeEnvConfig } from '../config/index.js';
import { parseDurationMs } from '../config/validate.js';
import { createLogger, type Logger } from '../log.js';
import { ApiError, LiteClient, loadAccess, type PodLike, type WatchOptions } from '../k8s/lite-client.js';
import { createExecutor, type IptablesExecutor } from './iptables/executor.js';
import { parseSave, reconcilePlan, type ChainState } from './iptables/rules.js';
import { chainSpecs, parseDnatMap, type DnatMap } from './dnat-map.js';
import { applyPlan, discover, type ServiceSource } from './program.js';
import { DEFAULT_RESOLV_CONF } from './exclusions.js';
import { parseFlags } from './flags.js';
import { VERSION } from '../version.js';

const USAGE = `Usage: ghostwire watch [--listen ADDR] [--verify-interval DURATION] [--resolv-conf PATH] [--watch-timeout SECONDS]

Follow this Pod's role label (POD_NAME, POD_NAMESPACE) and keep exactly one jump to GW_NAT_CHAIN in GW_JUMP_HOOK
while the role is GW_ROLE_PREVIEW. Serves /healthz and /metrics.

  --listen ADDR             HOST:PORT, [V6]:PORT, :PORT or unix:/path (default :8081); PORT 0 picks a free port
  --verify-interval DUR     how often the chain and jump are checked against iptables-save (default 5s)
  --resolv-conf PATH        DNS servers to exclude when the chain is rebuilt by discovery (default ${DEFAULT_RESOLV_CONF})
  --watch-timeout SECONDS   server-side watch timeout (default: random 300-600, like client-go)
`;

export interface PodApi extends ServiceSource {
  getPod(namespace: string, name: string, signal?: AbortSignal): Promise<PodLike>;
  watchPod(namespace: string, name: string, opts: WatchOptions<PodLike>): Promise<{ events: number }>;
}

export class Backoff {
  private attempt = 0;
  constructor(
    private readonly baseMs = 250,
    private readonly maxMs = 30_000,
  ) {}
  next(): number {
    const d = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 30);
    return d / 2 + Math.random() * (d / 2);
  }
  reset(): void {
    this.attempt = 0;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export const ERROR_TYPES = ['api_get', 'api_watch', 'iptables', 'map', 'refresh'] as const;
export type ErrorType = (typeof ERROR_TYPES)[number];

export class WatcherMetrics {
  readonly registry = new Registry();
  readonly dnatRules = new Gauge({ name: 'ghostwire_dnat_rules', help: 'DNAT rules in the chain per active Service (all ports and families)', labelNames: ['service'], registers: [this.registry] });
  readonly jumpState = new Gauge({ name: 'ghostwire_jump_state', help: '1 for the current routing state: preview (jump installed) or active (no jump)', labelNames: ['state'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'ghostwire_errors_total', help: 'Errors by type: api_get, api_watch, iptables, map, refresh', labelNames: ['type'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'ghostwire_label_to_jump_seconds',
    help: 'From the arrival of a role change (watch event or poll answer) to the iptables change being done',
    buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly repairs = new Counter({ name: 'ghostwire_chain_repairs_total', help: 'Chain rebuilt from the map because it was missing or drifted', labelNames: ['reason'], registers: [this.registry] });
  readonly refreshes = new Counter({ name: 'ghostwire_refreshes_total', help: 'Full rebuilds by discovery (GW_REFRESH_INTERVAL, or no usable map)', labelNames: ['result'], registers: [this.registry] });
  readonly watchUp = new Gauge({ name: 'ghostwire_watch_up', help: '1 while the Pod watch is established (0: polling)', registers: [this.registry] });
  readonly apiRequests = new Counter({ name: 'ghostwire_api_requests_total', help: 'Kubernetes API requests by kind', labelNames: ['kind'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const t of ERROR_TYPES) this.errors.inc({ type: t }, 0);
    this.jumpState.set({ state: 'preview' }, 0);
    this.jumpState.set({ state: 'active' }, 0);
  }
}

export interface WatcherOptions {
  config: RuntimeEnvConfig & { podName: string };
  api: PodApi;
  executor: IptablesExecutor;
  log: Logger;
  metrics: WatcherMetrics;
  verifyIntervalMs: number;
  resolvConfPath: string;
  watchTimeoutSeconds?: number;
}

export class Watcher {
  private readonly abort = new AbortController();
  private stopping = false;
  private rv: string | undefined;
  private role: string | undefined;
  private wantJump: boolean | undefined;
  private labelsRead = false;
  private chainVerified = false;
  private watchIsUp = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private verifyTimer: NodeJS.Timeout | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly watchBackoff = new Backoff();
  private readonly pollBackoff = new Backoff();
  // Serialized work: one iptables operation at a time, requests coalesce.
  private reconcilePending = false;
  private refreshPending = false;
  private pendingArrival: bigint | undefined;
  private running: Promise<void> | undefined;
  private watchLoopDone: Promise<void> | undefined;
  private map: { map: DnatMap; key: string } | undefined;
  private jumpInstalled: boolean | undefined;

  constructor(private readonly o: WatcherOptions) {}

  get healthy(): boolean {
    return this.labelsRead && this.chainVerified;
  }

  health(): { ok: boolean; labelsRead: boolean; chainVerified: boolean; role: string | null; watch: 'up' | 'down' } {
    return { ok: this.healthy, labelsRead: this.labelsRead, chainVerified: this.chainVerified, role: this.role ?? null, watch: this.watchIsUp ? 'up' : 'down' };
  }

  start(): void {
    const { config, verifyIntervalMs } = this.o;
    this.requestReconcile(); // verify (or build) the chain before the labels are known; the jump is left alone
    this.watchLoopDone = this.watchLoop();
    const verify = (): void => {
      this.requestReconcile();
      this.verifyTimer = setTimeout(verify, verifyIntervalMs);
    };
    this.verifyTimer = setTimeout(verify, verifyIntervalMs);
    if (config.refreshIntervalMs > 0) {
      const refresh = (): void => {
        this.refreshPending = true;
        this.kick();
        this.refreshTimer = setTimeout(refresh, config.refreshIntervalMs);
      };
      this.refreshTimer = setTimeout(refresh, config.refreshIntervalMs);
    }
  }

  /** Stop the watch and timers; resolves once an iptables call in flight has finished. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    for (const t of [this.pollTimer, this.verifyTimer, this.refreshTimer]) if (t) clearTimeout(t);
    await this.watchLoopDone;
    await this.running;
  }

  // ---- labels -------------------------------------------------------------------------------------------------

  private onPod(pod: PodLike, via: 'get' | 'watch' | 'poll', arrival: bigint): void {
    const labels = pod.metadata?.labels ?? {};
    const role = labels[this.o.config.roleLabelKey];
    const want = role === this.o.config.rolePreview;
    const first = !this.labelsRead;
    this.labelsRead = true;
    if (first || role !== this.role) {
      const meaning = want ? 'preview: jump wanted' : role === this.o.config.roleActive ? 'active: no jump' : role === undefined ? 'label absent: treated as active' : 'unknown value: treated as active';
      this.o.log.info({ role: role ?? null, label: this.o.config.roleLabelKey, via }, `role ${role === undefined ? '(none)' : JSON.stringify(role)} (${meaning})`);
    }
    this.role = role;
    if (want !== this.wantJump) {
      this.wantJump = want;
      if (this.pendingArrival === undefined) this.pendingArrival = arrival;
      this.requestReconcile();
    } else if (first) {
      this.requestReconcile();
    }
  }

  private async watchLoop(): Promise<void> {
    const { api, config, log, metrics } = this.o;
    // The Pod lives in its own namespace; GW_NAMESPACE only says where Services are discovered.
    const ns = config.podNamespace;
    const pod = config.podName;
    const signal = this.abort.signal;
    while (!this.stopping) {
      if (this.rv === undefined) {
        try {
          metrics.apiRequests.inc({ kind: 'get' });
          const p = await api.getPod(ns, pod, signal);
          const arrival = process.hrtime.bigint();
          this.rv = p.metadata?.resourceVersion;
          this.onPod(p, 'get', arrival);
        } catch (err) {
          if (this.stopping) break;
          metrics.errors.inc({ type: 'api_get' });
          this.setWatchDown(`get pod failed: ${(err as Error).message}`);
          await sleep(this.watchBackoff.next(), signal);
          continue;
        }
      }
      const started = Date.now();
      const timeoutSeconds = this.o.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
      try {
        metrics.apiRequests.inc({ kind: 'watch' });
        const opts: WatchOptions<PodLike> = {
          timeoutSeconds,
          idleTimeoutMs: (timeoutSeconds + 60) * 1000,
          signal,
          onOpen: () => this.setWatchUp(),
          onEvent: (ev) => {
            const arrival = process.hrtime.bigint();
            const rv = ev.object?.metadata?.resourceVersion;
            if (rv) this.rv = rv;
            if (ev.type === 'BOOKMARK') return;
            if (ev.type === 'DELETED') {
              log.info('pod deleted; keeping the current routing until the container stops');
              return;
            }
            this.onPod(ev.object, 'watch', arrival);
          },
        };
        if (this.rv) opts.resourceVersion = this.rv;
        const { events } = await api.watchPod(ns, pod, opts);
        if (this.stopping) break;
        log.debug({ events, seconds: Math.round((Date.now() - started) / 1000) }, 'watch ended by the server; re-watching');
        // A server that ends streams at once would make this a busy loop: back off unless it lasted a while.
        if (Date.now() - started < 1000 && events === 0) await sleep(this.watchBackoff.next(), signal);
      } catch (err) {
        if (this.stopping) break;
        if (err instanceof ApiError && err.status === 410) {
          log.info({ status: 410 }, `watch resourceVersion expired (${err.apiMessage ?? 'Gone'}); re-listing`);
          this.rv = undefined;
          continue;
        }
        metrics.errors.inc({ type: 'api_watch' });
        this.setWatchDown(`watch failed: ${(err as Error).message}`);
        await sleep(this.watchBackoff.next(), signal);
      }
    }
    this.setWatchDown(undefined);
  }

  private setWatchUp(): void {
    if (!this.watchIsUp) this.o.log.info('pod watch established');
    this.watchIsUp = true;
    this.o.metrics.watchUp.set(1);
    this.watchBackoff.reset();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  private setWatchDown(reason: string | undefined): void {
    if (reason) this.o.log.warn({ pollInterval: this.o.config.pollIntervalMs }, `${reason}; polling every ${this.o.config.pollIntervalMs} ms until the watch is back`);
    this.watchIsUp = false;
    this.o.metrics.watchUp.set(0);
    if (this.pollTimer || this.stopping) return;
    const { api, config, metrics, log } = this.o;
    const tick = async (): Promise<void> => {
      this.pollTimer = undefined;
      if (this.watchIsUp || this.stopping) return;
      let delay = config.pollIntervalMs;
      try {
        metrics.apiRequests.inc({ kind: 'poll' });
        const p = await api.getPod(config.podNamespace, config.podName, this.abort.signal);
        const arrival = process.hrtime.bigint();
        if (!this.watchIsUp && !this.stopping) {
          this.rv = p.metadata?.resourceVersion ?? this.rv;
          this.onPod(p, 'poll', arrival);
        }
        this.pollBackoff.reset();
      } catch (err) {
        if (this.stopping) return;
        metrics.errors.inc({ type: 'api_get' });
        delay = Math.max(config.pollIntervalMs, this.pollBackoff.next());
        log.warn(`poll failed: ${(err as Error).message}; next try in ${Math.round(delay)} ms`);
      }
      if (!this.watchIsUp && !this.stopping && !this.pollTimer) this.pollTimer = setTimeout(() => void tick(), delay);
    };
    this.pollTimer = setTimeout(() => void tick(), config.pollIntervalMs);
  }

  // ---- iptables -----------------------------------------------------------------------------------------------

  private requestReconcile(): void {
    this.reconcilePending = true;
    this.kick();
  }

  private kick(): void {
    if (this.running || this.stopping) return;
    this.running = this.drain().finally(() => {
      this.running = undefined;
      if ((this.reconcilePending || this.refreshPending) && !this.stopping) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (!this.stopping && (this.reconcilePending || this.refreshPending)) {
      if (this.refreshPending) {
        this.refreshPending = false;
        await this.rebuild('refresh interval');
        this.reconcilePending = true;
      }
      if (this.reconcilePending && !this.stopping) {
        this.reconcilePending = false;
        const arrival = this.pendingArrival;
        this.pendingArrival = undefined;
        await this.reconcile(arrival);
      }
    }
  }

  /** Full rebuild by discovery (same code as init), then rewrite the map. */
  private async rebuild(why: string): Promise<boolean> {
    const { api, config, executor, log, metrics } = this.o;
    try {
      metrics.apiRequests.inc({ kind: 'list' });
      const plan = await discover(api, config, log, { resolvConfPath: this.o.resolvConfPath });
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

  private async reconcile(arrival: bigint | undefined): Promise<void> {
    const { config, executor, log, metrics } = this.o;
    let map = await this.loadMap();
    if (!map) {
      if (!(await this.rebuild('no usable map'))) {
        this.chainVerified = false;
        return;
      }
      map = (this.map as { map: DnatMap }).map;
      // Record the file identity so the next verify does not re-read our own write.
      await this.loadMap();
    }
    const want = this.wantJump;
    let changed = false;
    const repaired: Array<{ family: number; state: ChainState }> = [];
    try {
      for (const spec of chainSpecs(map)) {
        for (let attempt = 1; ; attempt++) {
          const saved = parseSave(await executor.save(spec.family));
          const plan = reconcilePlan({ saved, spec, hook: config.jumpHook, wantJump: want });
          if (!plan.payload) break;
          try {
            await executor.restore(spec.family, plan.payload);
          } catch (err) {
            // The hook may have changed between save and restore (a -D of a rule that moved): try once more.
            if (attempt < 2) continue;
            throw err;
          }
          if (plan.chain !== 'ok') {
            repaired.push({ family: spec.family, state: plan.chain });
            metrics.repairs.inc({ reason: plan.chain });
          }
          if (plan.deletes > 0 || plan.insert) changed = true;
          if (plan.deletes > 0 && want !== undefined && (plan.jumpsBefore > 1 || (want && plan.insert && plan.jumpsBefore === 1))) {
            log.warn({ family: spec.family, jumpsBefore: plan.jumpsBefore }, `fixed ${plan.jumpsBefore} existing jump(s) to ${spec.chain} (duplicate, stale hook or not first in ${config.jumpHook})`);
          }
          break;
        }
      }
    } catch (err) {
      metrics.errors.inc({ type: 'iptables' });
      this.chainVerified = false;
      log.error(`iptables reconcile failed (retrying every verify interval): ${(err as Error).message}`);
      if (arrival !== undefined && this.pendingArrival === undefined) this.pendingArrival = arrival;
      return;
    }
    for (const r of repaired) log.warn({ family: r.family, state: r.state }, `chain ${map.chain} was ${r.state} (IPv${r.family}); rebuilt from ${config.dnatMapPath}`);
    this.chainVerified = true;
    if (want !== undefined) {
      metrics.jumpState.set({ state: 'preview' }, want ? 1 : 0);
      metrics.jumpState.set({ state: 'active' }, want ? 0 : 1);
      if (changed || this.jumpInstalled !== want) {
        const ms = arrival !== undefined ? Number(process.hrtime.bigint() - arrival) / 1e6 : undefined;
        if (arrival !== undefined && changed) metrics.latency.observe((ms as number) / 1000);
        if (changed) {
          log.info({ hook: config.jumpHook, chain: map.chain, latencyMs: ms === undefined ? null : Math.round(ms * 100) / 100 }, want ? `jump to ${map.chain} installed at ${config.jumpHook} position 1 (preview)` : `jump to ${map.chain} removed (active)`);
        }
      }
      this.jumpInstalled = want;
    }
  }
}

// ---- CLI ----------------------------------------------------------------------------------------------------------

export type ListenTarget = { path: string } | { host: string | undefined; port: number };

export function parseListen(text: string): ListenTarget | undefined {
  if (text.startsWith('unix:')) return text.length > 5 ? { path: text.slice(5) } : undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? (m[2] === '' ? undefined : m[2]);
  return { host, port };
}

export function createHealthServer(watcher: { health(): { ok: boolean } }, metrics: WatcherMetrics): http.Server {
  return http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (url === '/healthz') {
      const h = watcher.health();
      res.writeHead(h.ok ? 200 : 503, { 'Content-Type': 'application/json' }).end(`${JSON.stringify(h)}\n`);
      return;
    }
    if (url === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500).end(`${err.message}\n`),
      );
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  });
}

export async function run(argv: string[]): Promise<number> {
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags(argv, { values: ['listen', 'verify-interval', 'resolv-conf', 'watch-timeout'], bools: ['help'] });
  } catch (err) {
    process.stderr.write(`ghostwire watch: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (flags.bools.has('help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const { config, errors } = configFromEnv(process.env);
  if (!config.podName) errors.push(fieldError('environment', 'POD_NAME', '', 'the Pod\'s own name (downward API fieldRef metadata.name); the watcher follows that Pod'));
  const log = createLogger('ghostwire-watch', errors.length > 0 ? 'info' : config.logLevel);
  const flagProblems: string[] = [];
  const listen = parseListen(flags.values.get('listen') ?? ':8081');
  if (!listen) flagProblems.push(`--listen ${JSON.stringify(flags.values.get('listen'))}: expected HOST:PORT, [V6]:PORT, :PORT or unix:/path`);
  const verifyIntervalMs = parseDurationMs(flags.values.get('verify-interval') ?? '5s');
  if (verifyIntervalMs === undefined || verifyIntervalMs < 50) flagProblems.push(`--verify-interval: expected a duration of at least 50ms such as "5s"`);
  const wt = flags.values.get('watch-timeout');
  const watchTimeoutSeconds = wt === undefined ? undefined : Number(wt);
  if (watchTimeoutSeconds !== undefined && !(Number.isInteger(watchTimeoutSeconds) && watchTimeoutSeconds >= 1)) flagProblems.push('--watch-timeout: expected whole seconds >= 1');
  if (errors.length > 0 || flagProblems.length > 0) {
    log.error({ errors: errors.map((e) => e.field) }, `invalid configuration: ${[formatFieldErrors(errors), ...flagProblems].filter((s) => s !== '').join('; ')}`);
    return 2;
  }

  // Installed before anything starts, and kept: a signal during start-up or a second one during shutdown must not
  // kill the process half way through an iptables call.
  const stopSignal = new Promise<string>((resolve) => {
    process.on('SIGTERM', () => resolve('SIGTERM'));
    process.on('SIGINT', () => resolve('SIGINT'));
  });
  let client: LiteClient;
  try {
    const access = await loadAccess(process.env);
    client = new LiteClient(access, { userAgent: `ghostwire-watch/${VERSION}` });
  } catch (err) {
    log.error(`cannot reach the Kubernetes API: ${(err as Error).message}`);
    return 1;
  }
  const metrics = new WatcherMetrics();
  const watcherOpts: WatcherOptions = {
    config: { ...config, podName: config.podName as string },
    api: client,
    executor: createExecutor(),
    log,
    metrics,
    verifyIntervalMs: verifyIntervalMs as number,
    resolvConfPath: flags.values.get('resolv-conf') ?? DEFAULT_RESOLV_CONF,
  };
  if (watchTimeoutSeconds !== undefined) watcherOpts.watchTimeoutSeconds = watchTimeoutSeconds;
  const watcher = new Watcher(watcherOpts);
  const server = createHealthServer(watcher, metrics);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const target = listen as ListenTarget;
      const ready = (): void => {
        server.off('error', reject);
        resolve();
      };
      if ('path' in target) {
        unlink(target.path).catch(() => undefined).then(() => server.listen(target.path, ready));
      } else if (target.host === undefined) server.listen(target.port, ready);
      else server.listen(target.port, target.host, ready);
    });
  } catch (err) {
    log.error(`cannot listen on ${flags.values.get('listen') ?? ':8081'}: ${(err as Error).message}`);
    client.close();
    return 1;
  }
  const addr = server.address();
  if (typeof addr === 'string') log.info({ socket: addr }, `health and metrics listening on unix:${addr}`);
  else if (addr) log.info({ address: addr.address, port: addr.port }, `health and metrics listening on ${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`);
  log.info(
    { pod: config.podName, namespace: config.podNamespace, services: config.effectiveNamespace, chain: config.natChain, hook: config.jumpHook, label: config.roleLabelKey, preview: config.rolePreview, refreshMs: config.refreshIntervalMs, verifyMs: verifyIntervalMs },
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
}
