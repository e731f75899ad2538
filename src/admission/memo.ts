// Memoisation for the admission pipeline. Most admissions in a cluster share a handful of configurations, so
// resolving annotations, hashing and rendering once per distinct input keeps the per-request cost near the cost of
// parsing the body. The same inputs give the same outputs with or without it.
//
// Bounded twice: by entry count and by an estimate of the bytes held, and never keyed by caller content as such:
// a key longer than KEY_DIGEST_OVER is replaced by its SHA-256, and an entry too large for its share of the budget
// is simply not kept.
import { createHash } from 'node:crypto';
import type { Resolved } from '../config/index.js';
import type { DesiredParts } from '../inject/render.js';
import type { PatchOp } from '../kube/patch.js';

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
    const size = bytes + key.length;
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

/** A rough size of a JSON-able value (UTF-16 code units of its JSON text, times two for object overhead). */
export const jsonBytes = (v: unknown): number => 2 * JSON.stringify(v).length;

export interface MutationMemo {
  resolved: BoundedCache<Resolved>;
  hashes: BoundedCache<string>;
  parts: BoundedCache<DesiredParts>;
  /** Patches of first injections, by config hash and template shape (see patch-step.ts). */
  patches: BoundedCache<PatchOp[]>;
}

export interface MemoLimits {
  entries: number;
  /** Byte budget of each of the four caches. */
  bytes: number;
}

export const DEFAULT_MEMO_LIMITS: MemoLimits = { entries: 512, bytes: 8 * 1024 * 1024 };

export function createMutationMemo(limits: MemoLimits = DEFAULT_MEMO_LIMITS): MutationMemo {
  const cache = <V>() => new BoundedCache<V>(limits.entries, limits.bytes);
  return { resolved: cache(), hashes: cache(), parts: cache(), patches: cache() };
}
