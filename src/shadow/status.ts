// ghostwire.dev/tunnel-status on the workload: one compact JSON object, written by the shadow controller only.
//   {"phase":"Ready","mode":"plain","endpoint":"web-shop.tunnel.example.com","hash":"...","reason":"..."}
// phase: Pending | Ready | Failed; reason: present when Failed (and while Pending, what is awaited); hash: digest of
// the rendered objects the status refers to. Keys are always written in this order.
import type { TunnelMode } from './tunnel.js';

export type ShadowPhase = 'Pending' | 'Ready' | 'Failed';

export interface ShadowStatus {
  phase: ShadowPhase;
  mode?: TunnelMode;
  endpoint?: string;
  hash?: string;
  reason?: string;
}

/** Reasons are cut so a long API error cannot bloat the workload's metadata. */
export const MAX_REASON = 480;

export function formatStatus(s: ShadowStatus): string {
  const out: Record<string, string> = { phase: s.phase };
  if (s.mode !== undefined) out.mode = s.mode;
  if (s.endpoint !== undefined) out.endpoint = s.endpoint;
  if (s.hash !== undefined) out.hash = s.hash;
  if (s.reason !== undefined && s.reason !== '') out.reason = s.reason.length > MAX_REASON ? `${s.reason.slice(0, MAX_REASON - 3)}...` : s.reason;
  return JSON.stringify(out);
}

/** Tolerant: anything that is not a status we wrote reads as "no status". */
export function parseStatus(text: string | undefined): ShadowStatus | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (v === null || typeof v !== 'object') return undefined;
    if (v.phase !== 'Pending' && v.phase !== 'Ready' && v.phase !== 'Failed') return undefined;
    const s: ShadowStatus = { phase: v.phase };
    if (v.mode === 'plain' || v.mode === 'full-mesh') s.mode = v.mode;
    if (typeof v.endpoint === 'string') s.endpoint = v.endpoint;
    if (typeof v.hash === 'string') s.hash = v.hash;
    if (typeof v.reason === 'string') s.reason = v.reason;
    return s;
  } catch {
    return undefined;
  }
}
