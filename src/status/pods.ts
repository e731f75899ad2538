// One injected pod as `ghostwire status` reports it: what its spec says (role label, injected config hash, the
// watcher's metrics port) and what its watcher says about its routing, read from the watcher's /metrics through the
// API server's pod proxy (the I/O is the caller's; this file only plans the read and interprets the answer).
import { STATUS_ANNOTATION } from '../config/index.js';
import { METRICS_PORT, METRICS_PORT_NAME, WATCHER_CONTAINER, parseStatusAnnotation } from '../inject/render.js';
import type { KubeObject } from '../kube/objects.js';
import { age, clip } from './format.js';
import type { PodState, PodStatus, ProbeResult, WatcherReadout } from './model.js';
import { type Sample, parseSamples, sampleSum, sampleValue } from './prom-text.js';

export interface PodOptions {
  /** A watcher whose last sync is older than this needs attention (the GhostwireWatcherSyncStale default). */
  syncStaleSeconds: number;
}

interface WatcherSpec {
  port: number;
  roleLabel: string;
  preview: string;
}

const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const list = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.map(rec) : []);

/** The watcher container (a sidecar or a native sidecar) and what its env and ports say. */
function watcherSpec(pod: KubeObject): WatcherSpec | undefined {
  const spec = rec(pod.spec);
  const c = [...list(spec.containers), ...list(spec.initContainers)].find((x) => x.name === WATCHER_CONTAINER);
  if (!c) return undefined;
  const env = (name: string, fallback: string): string => {
    const e = list(c.env).find((x) => x.name === name);
    return typeof e?.value === 'string' && e.value !== '' ? e.value : fallback;
  };
  const port = list(c.ports).find((p) => p.name === METRICS_PORT_NAME)?.containerPort;
  return {
    port: typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536 ? port : METRICS_PORT,
    roleLabel: env('GW_ROLE_LABEL_KEY', 'role'),
    preview: env('GW_ROLE_PREVIEW', 'preview'),
  };
}

export interface ProbeTarget {
  namespace: string;
  pod: string;
  port: number;
}

const running = (pod: KubeObject) => rec(pod.status).phase === 'Running' && typeof rec(pod.status).podIP === 'string' && !pod.metadata?.deletionTimestamp;

/** The read to make for this pod, or undefined when there is nothing to read (not injected, not running). */
export function probeTarget(pod: KubeObject): ProbeTarget | undefined {
  const w = watcherSpec(pod);
  if (!w || !running(pod)) return undefined;
  return { namespace: String(pod.metadata?.namespace ?? ''), pod: String(pod.metadata?.name ?? ''), port: w.port };
}

const WATCHER_METRICS = new Set([
  'ghostwire_jump_state',
  'ghostwire_dnat_rules',
  'ghostwire_last_sync_timestamp_seconds',
  'ghostwire_errors_total',
  'ghostwire_watch_up',
  'ghostwire_service_watch_up',
]);

function readout(samples: readonly Sample[], now: number): WatcherReadout {
  const jumpPreview = sampleValue(samples, 'ghostwire_jump_state', { state: 'preview' });
  const jumpActive = sampleValue(samples, 'ghostwire_jump_state', { state: 'active' });
  const lastSync = sampleValue(samples, 'ghostwire_last_sync_timestamp_seconds');
  const errorsByType: Record<string, number> = {};
  for (const s of samples) {
    if (s.name !== 'ghostwire_errors_total' || !Number.isFinite(s.value) || s.value <= 0) continue;
    const type = clip(s.labels.type ?? '', 32);
    errorsByType[type] = (errorsByType[type] ?? 0) + s.value;
  }
  const up = (name: string): boolean | null => {
    const v = sampleValue(samples, name);
    return v === undefined ? null : v === 1;
  };
  return {
    jump: jumpPreview === 1 ? 'preview' : jumpActive === 1 ? 'active' : 'unknown',
    dnatRules: sampleSum(samples, 'ghostwire_dnat_rules'),
    lastSyncAgeSeconds: lastSync !== undefined && Number.isFinite(lastSync) && lastSync > 0 ? Math.max(0, Math.round(now / 1000 - lastSync)) : null,
    errors: Object.values(errorsByType).reduce((a, b) => a + b, 0),
    errorsByType,
    podWatchUp: up('ghostwire_watch_up'),
    serviceWatchUp: up('ghostwire_service_watch_up'),
  };
}

function watcherFindings(w: WatcherReadout, wants: 'preview' | 'active', options: PodOptions): string[] {
  const out: string[] = [];
  if (w.jump !== wants) out.push(`its role asks for ${wants} routing, the watcher reports ${w.jump}`);
  if (w.lastSyncAgeSeconds === null) out.push('the watcher has not verified its routing since it started');
  else if (w.lastSyncAgeSeconds > options.syncStaleSeconds) out.push(`routing last verified ${age(w.lastSyncAgeSeconds)} ago (over ${options.syncStaleSeconds}s)`);
  if (w.podWatchUp === false) out.push('its Pod watch is down (the API server is unreachable or forbids it): role changes are polled');
  if (w.serviceWatchUp === false) out.push('its Service watch is down: Service changes are not followed');
  return out;
}

export interface PodContext {
  /** What the pod proxy read gave; undefined when the pod was not read (not injected, not running). */
  probe: ProbeResult | undefined;
  /** The hash its workload's template runs, and the one the current defaults and annotations give (null: unknown). */
  workloadHash: string | null;
  expectedHash: string | null;
  /** Whether its workload carries ghostwire. */
  workloadInjected: boolean;
  now: number;
  options: PodOptions;
}

/** The pod's row. */
export function podStatus(pod: KubeObject, c: PodContext): PodStatus {
  const { probe, expectedHash, workloadInjected, now, options } = c;
  const w = watcherSpec(pod);
  const status = parseStatusAnnotation(pod.metadata?.annotations?.[STATUS_ANNOTATION]);
  const configHash = typeof status?.configHash === 'string' && status.configHash !== '' ? status.configHash.slice(0, 64) : null;
  const roleLabel = w?.roleLabel ?? 'role';
  const role = pod.metadata?.labels?.[roleLabel] ?? null;
  const wantsJump: 'preview' | 'active' = w !== undefined && role === w.preview ? 'preview' : 'active';
  const st = rec(pod.status);
  const row: PodStatus = {
    name: String(pod.metadata?.name ?? ''),
    phase: typeof st.phase === 'string' ? st.phase : 'Unknown',
    podIP: typeof st.podIP === 'string' ? st.podIP : null,
    injected: w !== undefined && status !== undefined,
    configHash,
    roleLabel,
    role,
    wantsJump,
    watcher: null,
    state: 'ok',
    findings: [],
  };
  let state: PodState = 'ok';
  if (!row.injected) {
    if (workloadInjected) row.findings.push('runs without ghostwire (created before its workload was injected): it needs a rollout');
    state = 'not-injected';
  } else if (expectedHash !== null && configHash !== expectedHash && configHash !== c.workloadHash) {
    // Older than its own workload's template (a rollout that did not finish); a template that is itself old is
    // reported on the workload's line.
    row.findings.push(`runs config ${configHash ?? '(none)'}, its workload's template runs ${c.workloadHash ?? '(none)'} and the current defaults give ${expectedHash}: its rollout did not finish`);
  }
  if (row.injected && probe === undefined) state = 'not-running';
  if (probe && !probe.ok) {
    state = 'unreachable';
    row.findings.push(`watcher metrics not readable through the pod proxy: ${probe.error}`);
  } else if (probe?.ok) {
    row.watcher = readout(parseSamples(probe.text, WATCHER_METRICS), now);
    row.findings.push(...watcherFindings(row.watcher, wantsJump, options));
  }
  row.state = row.findings.length > 0 && state !== 'unreachable' && !(state === 'not-injected' && !workloadInjected) ? 'attention' : state;
  return row;
}
