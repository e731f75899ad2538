// Rules between options, checked the same way for every source (annotations, the defaults document, the GW_*
// environment). Each problem is reported against the field a user would change, named as that source names it.
// The rules are data (CROSS_FIELD_RULES), so the admission policy generator (src/policy) turns the same list into CEL.
import { type FieldError, fieldError } from './errors.js';
import { type InjectConfig, OPTION_BY_FIELD, type PodConfig } from './options.js';
import { quantityValue } from './validate.js';

export interface CrossFieldProblem {
  error: FieldError;
  /** Fields that fall back together to the lower layer's values when the problem is tolerated (warn mode). */
  fallback: ReadonlyArray<keyof InjectConfig>;
}

type StringField = { [K in keyof InjectConfig]: InjectConfig[K] extends string ? K : never }[keyof InjectConfig];

export interface CrossFieldRule {
  /** distinct: `field` must differ from `other`; atMostQuantity: `field` (a quantity) must not exceed `other`. */
  kind: 'distinct' | 'atMostQuantity';
  field: StringField;
  other: StringField;
  fallback: ReadonlyArray<keyof InjectConfig>;
  /** What is allowed, given how the source names `other` and its value. */
  allowed: (otherName: string, otherValue: string) => string;
}

const RESOURCES = ['cpuRequest', 'cpuLimit', 'memoryRequest', 'memoryLimit'] as const;
const atMost = (other: string, value: string) => `at most ${other} (${value})`;

export const CROSS_FIELD_RULES: readonly CrossFieldRule[] = [
  // The two suffixes pair x-active with x-preview: equal suffixes would pair every such Service with itself.
  { kind: 'distinct', field: 'previewSuffix', other: 'activeSuffix', fallback: ['activeSuffix', 'previewSuffix'], allowed: (n, v) => `a suffix different from ${n} (${v})` },
  // Requests must not exceed limits: the API server would reject the pod with a far less helpful message.
  { kind: 'atMostQuantity', field: 'cpuRequest', other: 'cpuLimit', fallback: RESOURCES, allowed: atMost },
  { kind: 'atMostQuantity', field: 'memoryRequest', other: 'memoryLimit', fallback: RESOURCES, allowed: atMost },
];

function violated(rule: CrossFieldRule, value: string | undefined, other: string | undefined): boolean {
  if (rule.kind === 'distinct') return value === other;
  // Resource rules apply only when the config carries resources (the in-pod programs' config does not).
  const v = value === undefined ? undefined : quantityValue(value);
  const o = other === undefined ? undefined : quantityValue(other);
  return v !== undefined && o !== undefined && v > o;
}

/**
 * `name` turns a field into what the source calls it (an annotation key, a ConfigMap key, a variable); `other`
 * names the field it is compared with (default: the same).
 */
export function crossFieldProblems(
  config: PodConfig & Partial<InjectConfig>,
  source: string,
  name: (field: keyof InjectConfig) => string,
  other: (field: keyof InjectConfig) => string = name,
): CrossFieldProblem[] {
  const values = config as Partial<Record<StringField, string>>;
  return CROSS_FIELD_RULES.filter((r) => violated(r, values[r.field], values[r.other])).map((r) => ({
    error: fieldError(source, name(r.field), values[r.field] as string, r.allowed(other(r.other), values[r.other] as string)),
    fallback: r.fallback,
  }));
}

/** The option key (annotation suffix, ConfigMap key) of a field. */
export const keyOf = (field: keyof InjectConfig): string => (OPTION_BY_FIELD.get(field) as { key: string }).key;
