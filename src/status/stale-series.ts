// ghostwire_workload_config_stale, computed from a controller's informer caches with the same drift function as
// `ghostwire status` (drift.ts). One series per injected workload, so the cardinality is bounded by what carries
// ghostwire: 1 when its pod template runs another config hash than the current defaults and its annotations give
// (or ghostwire is still injected after it was switched off), else 0. Workloads whose expected hash cannot be
// computed get no series rather than a wrong one.
import type { KubeObject } from '../kube/objects.js';
import { type DriftContext, judgeWorkload } from './drift.js';
import { kindInfo } from './workloads.js';

export interface StaleSeries {
  namespace: string;
  kind: string;
  name: string;
  value: 0 | 1;
}

const STALE = new Set(['rollout-needed', 'removal-pending']);

/**
 * Judges each workload once per (uid, resourceVersion) and defaults version: a scrape re-judges only what changed.
 * The cache holds only the workloads seen in the last call.
 */
export class StaleSeriesCache {
  private cache = new Map<string, StaleSeries | null>();
  private ctx: DriftContext | undefined;

  series(workloads: readonly KubeObject[], ctx: DriftContext): StaleSeries[] {
    if (ctx !== this.ctx) {
      this.cache = new Map();
      this.ctx = ctx;
    }
    const next = new Map<string, StaleSeries | null>();
    const out: StaleSeries[] = [];
    for (const w of workloads) {
      const m = w.metadata ?? {};
      const key = `${String(w.kind)}/${String(m.uid ?? `${m.namespace}/${m.name}`)}/${String(m.resourceVersion ?? '')}`;
      let s = this.cache.get(key);
      if (s === undefined) s = judge(w);
      next.set(key, s);
      if (s) out.push(s);
    }
    this.cache = next;
    return out;

    function judge(w: KubeObject): StaleSeries | null {
      const info = kindInfo(String(w.kind));
      if (!info) return null;
      const d = judgeWorkload(w, info.kind, ctx);
      if (!d.injected || (d.expectedHash === null && d.state !== 'removal-pending')) return null;
      return { namespace: String(w.metadata?.namespace ?? ''), kind: info.kind.kind, name: String(w.metadata?.name ?? ''), value: STALE.has(d.state) ? 1 : 0 };
    }
  }
}
