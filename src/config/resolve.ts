// Layering: built-in < defaults document (ConfigMap or --defaults) < workload annotations (object, then pod template).
import { createHash } from 'node:crypto';
import type { Defaults } from './defaults.js';
import { crossFieldProblems, keyOf } from './cross-field.js';
import { type FieldError, clipText, detach, fieldError } from './errors.js';
import {
  ANNOTATION_PREFIX,
  ENABLED_ANNOTATION,
  type InjectConfig,
  OPTION_BY_KEY,
  OPTION_LIST,
  OUTPUT_ANNOTATIONS,
} from './options.js';
import { allowedImagesText, imageAllowed } from './image-policy.js';
import { parseBoolean } from './validate.js';

export type Annotations = Record<string, string> | undefined;

export interface Resolved {
  config: InjectConfig;
  /** Invalid annotation values; their fields keep the lower layer's value. */
  errors: FieldError[];
  /** Non-fatal findings (unknown ghostwire.dev/ keys). */
  notices: string[];
}

const ANNOTATION_SOURCE = 'annotation';
/** How many unknown keys one notice names; the rest are counted. */
export const UNKNOWN_KEYS_NAMED = 5;

/** One notice for all unknown ghostwire.dev/ keys (typos, mostly): names first, so a cut message keeps them. */
function unknownKeysNotice(count: number, first: readonly string[]): string {
  const names = first.map((k) => clipText(k, 80)).join(', ');
  const more = count > first.length ? ` and ${count - first.length} more` : '';
  const what = count === 1 ? 'unknown annotation' : `${count} unknown annotations`;
  return `${what} ${names}${more} ignored (known: ${OPTION_LIST.map((o) => o.key).join(', ')})`;
}

/** A parsed option value (string, number, boolean, string list, tunnel ports) holding no slice of its input. */
function detachValue(value: unknown): unknown {
  if (typeof value === 'string') return detach(value);
  if (Array.isArray(value)) return value.map(detachValue);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, detachValue(v)]));
  }
  return value;
}

/** The highest layer that sets `ghostwire.dev/enabled` decides; an invalid value is an error, not "off". */
export function resolveEnabled(layers: readonly Annotations[]): { enabled: boolean; error?: FieldError } {
  let enabled = false;
  let error: FieldError | undefined;
  for (const layer of layers) {
    const raw = layer?.[ENABLED_ANNOTATION];
    if (raw === undefined) continue;
    const r = parseBoolean(raw);
    if (r.ok) {
      enabled = r.value;
      error = undefined;
    } else {
      error = fieldError(ANNOTATION_SOURCE, ENABLED_ANNOTATION, raw, r.allowed);
    }
  }
  return error ? { enabled, error } : { enabled };
}

export function resolveConfig(defaults: Defaults, layers: readonly Annotations[]): Resolved {
  const config = { ...defaults.config, excludeCidrs: [...defaults.config.excludeCidrs], tunnelPorts: [...defaults.config.tunnelPorts] };
  const target = config as unknown as Record<string, unknown>;
  const errors: FieldError[] = [];
  const notices: string[] = [];
  // Layer by layer, lowest first: a valid value overrides the layers below it; an invalid one is reported and
  // leaves the value of the layers below in force (what warn mode promises).
  const unknown = { count: 0, first: [] as string[] };
  for (const [i, layer] of layers.entries()) {
    if (!layer) continue;
    for (const [k, raw] of Object.entries(layer)) {
      if (!k.startsWith(ANNOTATION_PREFIX) || k === ENABLED_ANNOTATION || OUTPUT_ANNOTATIONS.has(k)) continue;
      const opt = OPTION_BY_KEY.get(k.slice(ANNOTATION_PREFIX.length));
      if (!opt) {
        // Counted once even when several layers carry it; only the first few names are kept (bounded memory).
        if (!layers.slice(0, i).some((lower) => lower != null && Object.hasOwn(lower, k))) {
          unknown.count++;
          if (unknown.first.length < UNKNOWN_KEYS_NAMED) unknown.first.push(k);
        }
        continue;
      }
      const r = opt.parse(raw);
      // Resolved configs outlive the admission (the memo): keep copies, never slices of the request's strings.
      if (r.ok) {
        target[opt.field] = detachValue(r.value);
      } else {
        errors.push(fieldError(ANNOTATION_SOURCE, k, detach(raw.length > 100 ? raw.slice(0, 100) : raw), r.allowed));
      }
    }
  }
  if (unknown.count > 0) notices.push(unknownKeysNotice(unknown.count, unknown.first));
  // Cross-field rules, reported against the annotation a user would change; the fields involved fall back together
  // to the lower layer's values, so a warn-mode injection is still valid.
  for (const p of crossFieldProblems(config, ANNOTATION_SOURCE, (field) => ANNOTATION_PREFIX + keyOf(field), keyOf)) {
    errors.push(p.error);
    for (const f of p.fallback) target[f] = defaults.config[f];
  }
  // The injected containers run as uid 0 with NET_ADMIN: only the administrator's images, whichever layer asked.
  const policy = { image: defaults.config.image, allowedImages: defaults.allowedImages };
  if (!imageAllowed(config.image, policy)) {
    errors.push(fieldError(ANNOTATION_SOURCE, `${ANNOTATION_PREFIX}image`, config.image, allowedImagesText(policy)));
    config.image = defaults.config.image;
  }
  return { config, errors, notices };
}

/** Stable over key order and process runs: sha256 of the canonical option values, first 16 hex digits. */
export function configHash(config: InjectConfig, extra: Record<string, string> = {}): string {
  const h = createHash('sha256');
  for (const o of OPTION_LIST) h.update(`${o.key}=${o.format(config[o.field] as never)}\n`);
  for (const k of Object.keys(extra).sort()) h.update(`${k}=${extra[k]}\n`);
  return h.digest('hex').slice(0, 16);
}
