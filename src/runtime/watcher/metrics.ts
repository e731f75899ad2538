// The watcher's Prometheus metrics (served on :8081/metrics), on a registry of its own.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const ERROR_TYPES = ['api_get', 'api_watch', 'iptables', 'map', 'refresh', 'conntrack', 'sockets', 'events'] as const;
export const REPROGRAM_CAUSES = ['services', 'refresh', 'repair', 'role'] as const;
export type ReprogramCause = (typeof REPROGRAM_CAUSES)[number];
export const RESET_TRIGGERS = ['role', 'services'] as const;
export type ErrorType = (typeof ERROR_TYPES)[number];

export class WatcherMetrics {
  readonly registry = new Registry();
  readonly dnatRules = new Gauge({ name: 'ghostwire_dnat_rules', help: 'DNAT rules in the chain per active Service (all ports and families)', labelNames: ['service'], registers: [this.registry] });
  readonly jumpState = new Gauge({ name: 'ghostwire_jump_state', help: '1 for the current routing state: preview (jump installed) or active (no jump)', labelNames: ['state'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'ghostwire_errors_total', help: 'Errors by type: api_get, api_watch, iptables, map, refresh, conntrack, sockets, events', labelNames: ['type'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'ghostwire_label_to_jump_seconds',
    help: 'From the arrival of a role change (watch event or poll answer) to the iptables change being done',
    buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly repairs = new Counter({ name: 'ghostwire_chain_repairs_total', help: 'Chain rebuilt from the map because it was missing or drifted', labelNames: ['reason'], registers: [this.registry] });
  readonly refreshes = new Counter({ name: 'ghostwire_refreshes_total', help: 'Full rebuilds by discovery (GW_REFRESH_INTERVAL, or no usable map)', labelNames: ['result'], registers: [this.registry] });
  readonly watchUp = new Gauge({ name: 'ghostwire_watch_up', help: '1 while the Pod watch is established (0: polling)', registers: [this.registry] });
  readonly serviceWatchUp = new Gauge({ name: 'ghostwire_service_watch_up', help: '1 while the Service watch is established (0: the last known Services stay in force)', registers: [this.registry] });
  readonly lastSync = new Gauge({
    name: 'ghostwire_last_sync_timestamp_seconds',
    help: 'When the rules and the jump were last verified to match the pod role and the current Services with both watches established (Unix seconds)',
    registers: [this.registry],
  });
  readonly reprograms = new Counter({ name: 'ghostwire_reprograms_total', help: 'iptables changes applied, by cause: services, refresh, repair, role', labelNames: ['cause'], registers: [this.registry] });
  readonly conntrackResets = new Counter({
    name: 'ghostwire_conntrack_entries_reset_total',
    help: 'Connection-tracking entries deleted because their route changed, by trigger: role, services',
    labelNames: ['trigger'],
    registers: [this.registry],
  });
  readonly socketsClosed = new Counter({
    name: 'ghostwire_connections_closed_total',
    help: "The application's TCP connections closed at the socket (ss -K) because their route changed, by trigger: role, services",
    labelNames: ['trigger'],
    registers: [this.registry],
  });
  readonly serviceLatency = new Histogram({
    name: 'ghostwire_service_to_rules_seconds',
    help: 'From the arrival of a Service change that reroutes a destination to the iptables change being done',
    buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5],
    registers: [this.registry],
  });
  readonly info = new Gauge({ name: 'ghostwire_watcher_info', help: 'Always 1: the watcher version and the config hash of its injection', labelNames: ['version', 'config_hash'], registers: [this.registry] });
  readonly apiRequests = new Counter({ name: 'ghostwire_api_requests_total', help: 'Kubernetes API requests by kind', labelNames: ['kind'], registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    for (const t of ERROR_TYPES) this.errors.inc({ type: t }, 0);
    for (const c of REPROGRAM_CAUSES) this.reprograms.inc({ cause: c }, 0);
    for (const t of RESET_TRIGGERS) {
      this.conntrackResets.inc({ trigger: t }, 0);
      this.socketsClosed.inc({ trigger: t }, 0);
    }
    this.jumpState.set({ state: 'preview' }, 0);
    this.jumpState.set({ state: 'active' }, 0);
  }
}
