// Layering: built-in < defaults document (ConfigMap or --defaults) < workload annotations (object, then pod template).
import { createHash } from 'node:crypto';
import type { Defaults } from './defaults.js';
import { crossFieldProblems, keyOf } from './cross-field.js';
import { type FieldError, fieldError } from './errors.js';
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
  const unknown = new Set<string>();
  for (const layer of layers) {
    if (!layer) continue;
    for (const [k, raw] of Object.entries(layer)) {
      if (!k.startsWith(ANNOTATION_PREFIX) || k === ENABLED_ANNOTATION || OUTPUT_ANNOTATIONS.has(k)) continue;
      const opt = OPTION_BY_KEY.get(k.slice(ANNOTATION_PREFIX.length));
      if (!opt) {
        unknown.add(k);
        continue;
      }
      const r = opt.parse(raw);
      if (r.ok) {
        target[opt.field] = r.value;
      } else {
        errors.push(fieldError(ANNOTATION_SOURCE, k, raw, r.allowed));
      }
    }
  }
  for (const k of unknown) notices.push(`unknown annotation ${k} ignored (known: ${OPTION_LIST.map((o) => o.key).join(', ')})`);
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
