// Memoisation for the admission pipeline. Most admissions in a cluster share a handful of configurations, so
// resolving annotations, hashing and rendering once per distinct input keeps the per-request cost near the cost
// of parsing the body. Pure: the same inputs give the same outputs with or without it.
import type { Resolved } from '../config/index.js';
import type { DesiredParts } from '../inject/render.js';

class Lru<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: V): V {
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
    return value;
  }
}

export interface MutationMemo {
  resolved: Lru<Resolved>;
  hashes: Lru<string>;
  parts: Lru<DesiredParts>;
}

export function createMutationMemo(size = 512): MutationMemo {
  return { resolved: new Lru(size), hashes: new Lru(size), parts: new Lru(size) };
}

/** Raw JSON of objects that are reused across admissions (rendered containers), serialised once. */
const rawJson = new WeakMap<object, string>();

export function rememberJson(value: object): void {
  rawJson.set(value, JSON.stringify(value));
}

function toJson(value: unknown): string {
  if (typeof value === 'object' && value !== null) {
    const raw = rawJson.get(value);
    if (raw !== undefined) return raw;
    if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  }
  return JSON.stringify(value);
}

/** JSON.stringify of a patch, reusing the cached text of rendered parts (byte-identical output). */
export function serializePatch(ops: ReadonlyArray<{ op: string; path: string; value?: unknown }>): string {
  return `[${ops
    .map((o) => (o.op === 'remove' ? JSON.stringify(o) : `{"op":${JSON.stringify(o.op)},"path":${JSON.stringify(o.path)},"value":${toJson(o.value)}}`))
    .join(',')}]`;
}
