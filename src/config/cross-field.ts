// Rules between options, checked the same way for every source (annotations, the defaults document, the GW_*
// environment). Each problem is reported against the field a user would change, named as that source names it.
import { type FieldError, fieldError } from './errors.js';
import { type InjectConfig, OPTION_BY_FIELD, type PodConfig } from './options.js';
import { quantityValue } from './validate.js';

export interface CrossFieldProblem {
  error: FieldError;
  /** Fields that fall back together to the lower layer's values when the problem is tolerated (warn mode). */
  fallback: ReadonlyArray<keyof InjectConfig>;
}

const RESOURCE_PAIRS = [['cpuRequest', 'cpuLimit'], ['memoryRequest', 'memoryLimit']] as const;
const RESOURCES = ['cpuRequest', 'cpuLimit', 'memoryRequest', 'memoryLimit'] as const;

/**
 * `name` turns a field into what the source calls it (an annotation key, a ConfigMap key, a variable); `other`
 * names the field it is compared with (default: the same). Resource rules apply only when the config carries
 * resources (the in-pod programs' config does not).
 */
export function crossFieldProblems(
  config: PodConfig & Partial<InjectConfig>,
  source: string,
  name: (field: keyof InjectConfig) => string,
  other: (field: keyof InjectConfig) => string = name,
): CrossFieldProblem[] {
  const out: CrossFieldProblem[] = [];
  // The two suffixes pair x-active with x-preview: equal suffixes would pair every such Service with itself.
  if (config.activeSuffix === config.previewSuffix) {
    out.push({
      error: fieldError(source, name('previewSuffix'), config.previewSuffix, `a suffix different from ${other('activeSuffix')} (${config.activeSuffix})`),
      fallback: ['activeSuffix', 'previewSuffix'],
    });
  }
  // Requests must not exceed limits: the API server would reject the pod with a far less helpful message.
  for (const [req, lim] of RESOURCE_PAIRS) {
    const r = config[req] === undefined ? undefined : quantityValue(config[req]);
    const l = config[lim] === undefined ? undefined : quantityValue(config[lim]);
    if (r !== undefined && l !== undefined && r > l) {
      out.push({ error: fieldError(source, name(req), config[req] as string, `at most ${other(lim)} (${config[lim] as string})`), fallback: RESOURCES });
    }
  }
  return out;
}

/** The option key (annotation suffix, ConfigMap key) of a field. */
export const keyOf = (field: keyof InjectConfig): string => (OPTION_BY_FIELD.get(field) as { key: string }).key;
