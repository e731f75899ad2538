// Memoisation for the admission pipeline. Most admissions in a cluster share a handful of configurations, so
// resolving annotations, hashing and rendering once per distinct input keeps the per-request cost near the cost of
// parsing the body. The same inputs give the same outputs with or without it.
//
// Bounded twice: by entry count and by an upper-bound estimate of the heap held (heapBytes), and never keyed by caller
// content as such: a key longer than KEY_DIGEST_OVER is replaced by its SHA-256, and an entry too large for its share
// of the budget is simply not kept. Values hold no slices of request strings (config/resolve.ts copies them), so
// the estimate is what they keep alive.
import { createHash } from 'node:crypto';
import type { Resolved } from '../config/index.js';
import type { DesiredParts } from '../inject/render.js';
import type { PatchOp } from '../kube/patch.js';
import { patchTailLength, rememberedJsonLength } from './response.js';

const KEY_DIGEST_OVER = 128;

export class BoundedCache<V> {
  private readonly map = new Map<string, { value: V; bytes: number }>();
  private bytes = 0;
  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  /** The key under which `input` is stored: short inputs as they are, long ones as a digest. */
  static key(input: string): string {
    return input.length > KEY_DIGEST_OVER ? `#${createHash('sha256').update(input).digest('base64url')}` : input;
  }

  get(key: string): V | undefined {
    return this.map.get(key)?.value;
  }

  /** Keeps the value unless it alone would take more than an eighth of the byte budget; returns it either way. */
  set(key: string, value: V, bytes: number): V {
    const size = bytes + stringBytes(key);
    if (size > this.maxBytes / 8) return value;
    const old = this.map.get(key);
    if (old) {
      this.bytes -= old.bytes;
      this.map.delete(key);
    }
    this.map.set(key, { value, bytes: size });
    this.bytes += size;
    // Eviction is by insertion order: re-ordering on every hit costs more than the rare re-render it saves.
    for (const [k, v] of this.map) {
      if (this.map.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.map.delete(k);
      this.bytes -= v.bytes;
    }
    return value;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.map.size, bytes: this.bytes };
  }
}

/** `cache.get(key)`, else `compute()` stored with its estimated size; without a cache, just `compute()`. */
export function memoised<V>(cache: BoundedCache<V> | undefined, key: string, compute: () => V, bytes: (v: V) => number): V {
  if (cache === undefined) return compute();
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const value = compute();
  return cache.set(key, value, bytes(value));
}

/** Heap bytes of a string: a 16-byte header and one byte per character, two for text beyond Latin-1; 8-aligned. */
export function stringBytes(s: string): number {
  const perChar = /^[\u0000-\u00ff]*$/.test(s) ? 1 : 2;
  return 16 + Math.ceil((s.length * perChar) / 8) * 8;
}

/**
 * An upper bound of the heap a JSON-like value holds, from V8's layout on 64-bit: strings as stringBytes, an array a
 * 32-byte header and a slot per element, an object a header and two words per property (one is what in-object
 * properties take), a number a heap number. A part reached twice is counted twice. Iterative, so no value can
 * exhaust the stack; linear in the value's size (paid once, on a miss).
 */
export function heapBytes(value: unknown): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') total += stringBytes(v);
    else if (typeof v === 'number') total += 16;
    else if (Array.isArray(v)) {
      total += 32 + 8 * v.length;
      for (const item of v) stack.push(item);
    } else if (typeof v === 'object' && v !== null) {
      total += 24;
      for (const key in v) {
        total += 16;
        stack.push((v as Record<string, unknown>)[key]);
      }
    }
  }
  return total;
}

/** Estimated bytes of a memoised config: the config and its findings. */
export const resolvedBytes = (r: Resolved): number => heapBytes(r);
/** Rendered parts, plus the JSON text response.ts keeps for each shared part (rememberJson). */
export const partsBytes = (p: DesiredParts): number => heapBytes(p) + [p.init, p.watcher, p.volume].reduce((n, part) => n + 16 + 2 * rememberedJsonLength(part), 0);
/** A first-injection patch, plus the body tail response.ts caches with it (computed now, used by the answer). */
export const patchBytes = (ops: PatchOp[]): number => heapBytes(ops) + 64 + patchTailLength(ops);

export interface MutationMemo {
  resolved: BoundedCache<Resolved>;
  hashes: BoundedCache<string>;
  parts: BoundedCache<DesiredParts>;
  /** Patches of first injections, by config hash and template shape (see patch-step.ts). */
  patches: BoundedCache<PatchOp[]>;
}

export interface MemoLimits {
  /** Entries of each of the four caches. */
  entries: number;
  /** Byte budget of each of the four caches (estimated heap, see heapBytes). */
  bytes: number;
}

/**
 * Sized from measurement (README, Performance): a distinct config holds about 17 KiB of heap across the four caches
 * and is estimated at about 29 KiB (parts 12, patch 15), so 20 MiB per cache keep a rotation of 1,000 distinct
 * configs whole. What any input can make the memo hold is bounded by the estimates: at most 4 x 20 MiB, and in
 * practice 3 x 20 MiB (2,048 hashes are small).
 */
export const DEFAULT_MEMO_LIMITS: MemoLimits = { entries: 2048, bytes: 20 * 1024 * 1024 };

export function createMutationMemo(limits: MemoLimits = DEFAULT_MEMO_LIMITS): MutationMemo {
  const cache = <V>() => new BoundedCache<V>(limits.entries, limits.bytes);
  return { resolved: cache(), hashes: cache(), parts: cache(), patches: cache() };
}
