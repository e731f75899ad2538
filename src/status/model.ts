// The report `ghostwire status` prints: one document (JSON and YAML print it as is, the table renders it), so
// pipelines and people read the same facts. Field names are a contract (format ghostwire.dev/status/v1).
import type { WorkloadState } from './drift.js';

export const STATUS_FORMAT = 'ghostwire.dev/status/v1';

/** What reading one pod's /metrics through the API server's pod proxy gave. */
export type ProbeResult = { ok: true; text: string } | { ok: false; error: string };

export interface WatcherReadout {
  /** The routing state the watcher reports: preview (jump installed) or active. */
  jump: 'preview' | 'active' | 'unknown';
  dnatRules: number;
  /** Seconds since the rules and jump were last verified with both watches up; null: never. */
  lastSyncAgeSeconds: number | null;
  errors: number;
  errorsByType: Record<string, number>;
  podWatchUp: boolean | null;
  serviceWatchUp: boolean | null;
}

export type PodState = 'ok' | 'not-running' | 'not-injected' | 'unreachable' | 'attention';

export interface PodStatus {
  name: string;
  phase: string;
  podIP: string | null;
  injected: boolean;
  configHash: string | null;
  roleLabel: string;
  role: string | null;
  /** The routing the role label asks for. */
  wantsJump: 'preview' | 'active';
  watcher: WatcherReadout | null;
  state: PodState;
  /** Why the state is not ok, one line each. */
  findings: string[];
}

export interface WorkloadStatus {
  namespace: string;
  kind: string;
  name: string;
  enabled: boolean;
  injected: boolean;
  sidecarMode: 'container' | 'native' | null;
  /** The config hash its pod template runs. */
  configHash: string | null;
  /** The config hash the current defaults and its annotations give. */
  expectedHash: string | null;
  state: WorkloadState;
  /** A stable code: why it is not injected or not current (null when current or not enabled). */
  reason: string | null;
  message: string | null;
  warnings: string[];
  attention: boolean;
  pods: PodStatus[];
}

export interface ReplicaStatus {
  pod: string;
  reachable: boolean;
  certificateNotAfter: string | null;
  defaultsValid: boolean | null;
  error: string | null;
}

export interface WebhookStatus {
  configuration: string | null;
  webhook: string | null;
  failurePolicy: string | null;
  /** "service NS/NAME" or "url URL" */
  endpoint: string | null;
  namespaceSelector: string | null;
  deployment: string | null;
  replicas: { desired: number; ready: number; available: number; updated: number } | null;
  caNotAfter: string | null;
  defaults: { source: string; state: DefaultsState; errors: string[]; resourceVersion: string | null };
  replicaStatus: ReplicaStatus[];
  /** Lines that need attention. */
  findings: string[];
  /** Lines worth knowing that need nothing. */
  notes: string[];
}

export type DefaultsState = 'valid' | 'rejected' | 'absent' | 'built-in' | 'file' | 'unknown';

export interface StatusSummary {
  workloads: number;
  injected: number;
  current: number;
  rolloutNeeded: number;
  notInjected: number;
  pods: number;
  podsRead: number;
  podsUnreachable: number;
}

export interface StatusReport {
  format: typeof STATUS_FORMAT;
  generatedAt: string;
  scope: { namespaces: string[] | 'all'; object: string | null };
  webhook: WebhookStatus;
  workloads: WorkloadStatus[];
  summary: StatusSummary;
  /** One line per thing that needs attention (exit code 3). */
  attention: string[];
  /** Reads that failed: the report is incomplete (exit code 1). */
  incomplete: string[];
  exitCode: number;
}

/** Exit codes of `ghostwire status` (README, "ghostwire status"). */
export const STATUS_EXIT = { ok: 0, incomplete: 1, usage: 2, attention: 3 } as const;
