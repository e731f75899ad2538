// Memoisation for the admission pipeline. Most admissions in a cluster share a handful of configurations, so
// resolving annotations, hashing and rendering once per distinct input keeps the per-request cost near the cost
// of parsing the body. Pure: the same inputs give the same outputs with or without it.
import type { Resolved } from '../config/index.js';
import type { DesiredParts } from '../inject/render.js';
import type { PatchOp } from './types.js';

class BoundedMap<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  // Eviction is by insertion order: re-ordering on every hit costs more than the rare re-render it saves.
  get(key: string): V | undefined {
    return this.map.get(key);
  }
  set(key: string, value: V): V {
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
    return value;
  }
}

export interface MutationMemo {
  resolved: BoundedMap<Resolved>;
  hashes: BoundedMap<string>;
  parts: BoundedMap<DesiredParts>;
  /** Patches of first injections, by config hash and template shape (see mutate.ts). */
  patches: BoundedMap<PatchOp[]>;
}

export function createMutationMemo(size = 512): MutationMemo {
  return { resolved: new BoundedMap(size), hashes: new BoundedMap(size), parts: new BoundedMap(size), patches: new BoundedMap(size) };
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

/** base64 of a memoised patch, by identity of its (immutable, shared) ops array. */
const encoded = new WeakMap<readonly unknown[], string>();

export function patchBase64(ops: ReadonlyArray<{ op: string; path: string; value?: unknown }>): string {
  let b64 = encoded.get(ops);
  if (b64 === undefined) {
    b64 = Buffer.from(serializePatch(ops)).toString('base64');
    encoded.set(ops, b64);
  }
  return b64;
}

/** `,"patch":"<base64>"}}`: the end of a response body, reused while the patch is. */
const tails = new WeakMap<readonly unknown[], string>();

export function patchTail(ops: ReadonlyArray<{ op: string; path: string; value?: unknown }>): string {
  let tail = tails.get(ops);
  if (tail === undefined) {
    tail = `,"patch":"${patchBase64(ops)}"}}`;
    tails.set(ops, tail);
  }
  return tail;
}
