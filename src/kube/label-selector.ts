// Label selectors as the API server evaluates them (metav1.LabelSelector): the webhook's namespaceSelector and
// objectSelector decide which objects it is ever called for. Read from the cluster, so every field is untrusted.

export interface LabelSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Why `labels` do not match `selector` (the first requirement that fails, in words), or undefined when they match.
 * An absent or empty selector matches everything, as in Kubernetes.
 */
export function selectorMismatch(selector: unknown, labels: Readonly<Record<string, string>> | undefined): string | undefined {
  if (selector === undefined || selector === null) return undefined;
  if (!isRecord(selector)) return 'the selector is not an object';
  const have = labels ?? {};
  const matchLabels = isRecord(selector.matchLabels) ? selector.matchLabels : {};
  for (const [key, value] of Object.entries(matchLabels)) {
    if (have[key] !== value) return `label ${key}=${String(value)} is ${key in have ? `${JSON.stringify(have[key])}` : 'missing'}`;
  }
  const expressions = Array.isArray(selector.matchExpressions) ? (selector.matchExpressions as unknown[]) : [];
  for (const e of expressions) {
    const why = requirementMismatch(e, have);
    if (why !== undefined) return why;
  }
  return undefined;
}

function requirementMismatch(e: unknown, have: Readonly<Record<string, string>>): string | undefined {
  if (!isRecord(e) || typeof e.key !== 'string' || typeof e.operator !== 'string') return 'a matchExpressions entry is malformed';
  const key = e.key;
  const values = Array.isArray(e.values) ? e.values.filter((v): v is string => typeof v === 'string') : [];
  const present = Object.prototype.hasOwnProperty.call(have, key);
  const value = present ? have[key] : undefined;
  switch (e.operator) {
    case 'In':
      return present && values.includes(value as string) ? undefined : `label ${key} ${present ? `is ${JSON.stringify(value)}` : 'is missing'}; wanted one of ${values.join(', ')}`;
    case 'NotIn':
      return present && values.includes(value as string) ? `label ${key} is ${JSON.stringify(value)}, which the selector excludes` : undefined;
    case 'Exists':
      return present ? undefined : `label ${key} is missing`;
    case 'DoesNotExist':
      return present ? `label ${key} is present, which the selector excludes` : undefined;
    default:
      return `operator ${JSON.stringify(e.operator.slice(0, 40))} is not a label selector operator`;
  }
}

/** The selector as kubectl prints it: "a=b,c in (d,e),!f". */
export function formatSelector(selector: unknown): string {
  if (!isRecord(selector)) return '';
  const parts: string[] = [];
  if (isRecord(selector.matchLabels)) for (const [k, v] of Object.entries(selector.matchLabels)) parts.push(`${k}=${String(v)}`);
  for (const e of Array.isArray(selector.matchExpressions) ? (selector.matchExpressions as unknown[]) : []) {
    if (!isRecord(e) || typeof e.key !== 'string') continue;
    const values = Array.isArray(e.values) ? e.values.map(String).join(',') : '';
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
  }
  return parts.join(',');
}
