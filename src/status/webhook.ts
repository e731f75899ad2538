// Finding the webhook from what the cluster says, never from what the user is asked: its
// MutatingWebhookConfiguration (which objects the API server sends it), its Deployment (found by the chart's
// component label, next to the Service the configuration calls), and the flags `ghostwire serve` runs with there
// (--defaults-configmap, --namespace). Every field comes from the API, so every field is checked.
import type { KubeObject } from '../kube/objects.js';
import { byText } from './format.js';

export const COMPONENT_LABEL = 'ghostwire.dev/component';
export const WEBHOOK_COMPONENT_SELECTOR = `${COMPONENT_LABEL}=webhook`;

export interface WebhookRule {
  apiGroups: string[];
  resources: string[];
  operations: string[];
}

/** One ghostwire entry of a MutatingWebhookConfiguration: what decides whether the API server calls the webhook. */
export interface AdmissionScope {
  configuration: string;
  webhook: string;
  createdAt: string | null;
  failurePolicy: string;
  service: { namespace: string; name: string } | null;
  url: string | null;
  namespaceSelector: unknown;
  objectSelector: unknown;
  rules: WebhookRule[];
  caBundle: string;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** A webhook entry is ghostwire's when its name is in ghostwire.dev (the chart's is inject.ghostwire.dev). */
export const isGhostwireWebhook = (name: string): boolean => name === 'ghostwire.dev' || name.endsWith('.ghostwire.dev');

function scopeOf(config: KubeObject, entry: Record<string, unknown>): AdmissionScope {
  const client = isRecord(entry.clientConfig) ? entry.clientConfig : {};
  const svc = isRecord(client.service) ? client.service : undefined;
  return {
    configuration: str(config.metadata?.name),
    webhook: str(entry.name),
    createdAt: str(config.metadata?.creationTimestamp) || null,
    failurePolicy: str(entry.failurePolicy) || 'Fail',
    service: svc && str(svc.namespace) && str(svc.name) ? { namespace: str(svc.namespace), name: str(svc.name) } : null,
    url: str(client.url) || null,
    namespaceSelector: entry.namespaceSelector,
    objectSelector: entry.objectSelector,
    rules: (Array.isArray(entry.rules) ? entry.rules : []).filter(isRecord).map((r) => ({ apiGroups: strings(r.apiGroups), resources: strings(r.resources), operations: strings(r.operations) })),
    caBundle: str(client.caBundle),
  };
}

export interface ScopeChoice {
  scope: AdmissionScope | undefined;
  /** Other configurations that also carry a ghostwire webhook (ambiguous unless one was named). */
  others: string[];
}

/** The ghostwire entry of the named configuration, or of the only configuration that has one. */
export function chooseScope(configurations: readonly KubeObject[], name?: string): ScopeChoice {
  const candidates: AdmissionScope[] = [];
  for (const config of configurations) {
    if (name !== undefined && config.metadata?.name !== name) continue;
    const entries = (Array.isArray(config.webhooks) ? config.webhooks : []).filter(isRecord);
    const ours = entries.filter((e) => isGhostwireWebhook(str(e.name)));
    // The injecting entry (the chart's inject.ghostwire.dev) decides; other ghostwire entries are narrower.
    const entry = ours.find((e) => str(e.name).startsWith('inject.')) ?? ours[0] ?? (name !== undefined ? entries[0] : undefined);
    if (entry) candidates.push(scopeOf(config, entry));
  }
  candidates.sort((a, b) => byText(a.configuration, b.configuration));
  return { scope: candidates[0], others: candidates.slice(1).map((c) => c.configuration) };
}

/** True when one of the rules sends `resource` of `group` to the webhook for one of `operations`. */
export function registers(scope: AdmissionScope, group: string, resource: string, operations: readonly string[]): boolean {
  return scope.rules.some(
    (r) =>
      (r.apiGroups.includes(group) || r.apiGroups.includes('*')) &&
      (r.resources.includes(resource) || r.resources.includes('*')) &&
      (r.operations.includes('*') || operations.some((o) => r.operations.includes(o))),
  );
}

/** The values of a `kubernetes.io/metadata.name NotIn [...]` expression: namespaces the webhook is never called for. */
export function excludedNamespaces(scope: AdmissionScope): string[] {
  const sel = scope.namespaceSelector;
  const exprs = isRecord(sel) && Array.isArray(sel.matchExpressions) ? sel.matchExpressions.filter(isRecord) : [];
  return exprs.filter((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn').flatMap((e) => strings(e.values));
}

export interface ServeFlags {
  deployment: { namespace: string; name: string };
  /** --defaults-configmap NS/NAME */
  defaultsConfigMap: { namespace: string; name: string } | null;
  /** --defaults FILE (inside the pod: unreadable from here) */
  defaultsFile: string | null;
  /** --namespace, resolved through $(VAR) references to the downward API */
  ownNamespace: string;
}

interface ContainerLike {
  command?: unknown;
  args?: unknown;
  env?: unknown;
}

/** The value of `--flag=value` or `--flag value` in an argument list. */
function flagValue(args: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === flag) return args[i + 1];
    if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
  }
  return undefined;
}

/** `$(POD_NAMESPACE)` and friends: the container's env, where a fieldRef to metadata.namespace is the Deployment's namespace. */
function expand(value: string, container: ContainerLike, namespace: string): string {
  return value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => {
    const e = (Array.isArray(container.env) ? container.env : []).find((x) => isRecord(x) && x.name === name) as Record<string, unknown> | undefined;
    if (!e) return whole;
    if (typeof e.value === 'string') return e.value;
    const ref = isRecord(e.valueFrom) && isRecord(e.valueFrom.fieldRef) ? e.valueFrom.fieldRef.fieldPath : undefined;
    return ref === 'metadata.namespace' ? namespace : whole;
  });
}

/** The flags of the container that runs `ghostwire serve`, or undefined when the Deployment runs no such container. */
export function serveFlags(deployment: KubeObject): ServeFlags | undefined {
  const namespace = str(deployment.metadata?.namespace);
  const spec = isRecord(deployment.spec) && isRecord(deployment.spec.template) && isRecord(deployment.spec.template.spec) ? deployment.spec.template.spec : {};
  const containers = (Array.isArray(spec.containers) ? spec.containers : []).filter(isRecord) as ContainerLike[];
  for (const c of containers) {
    const argv = [...strings(c.command), ...strings(c.args)];
    if (!argv.includes('serve')) continue;
    const value = (flag: string) => {
      const v = flagValue(argv, flag);
      return v === undefined ? undefined : expand(v, c, namespace);
    };
    const cm = value('--defaults-configmap')?.split('/');
    return {
      deployment: { namespace, name: str(deployment.metadata?.name) },
      defaultsConfigMap: cm && cm.length === 2 && cm[0] && cm[1] ? { namespace: cm[0], name: cm[1] } : null,
      defaultsFile: value('--defaults') ?? null,
      ownNamespace: value('--namespace') ?? namespace,
    };
  }
  return undefined;
}

/** The webhook's Deployment among candidates: the named one, else one in the Service's namespace that runs `serve`. */
export function chooseDeployment(candidates: readonly KubeObject[], preferNamespace: string | undefined, name?: string): KubeObject | undefined {
  const runsServe = candidates.filter((d) => serveFlags(d) !== undefined && (name === undefined || d.metadata?.name === name));
  const sorted = [...runsServe].sort((a, b) => byText(`${a.metadata?.namespace}/${a.metadata?.name}`, `${b.metadata?.namespace}/${b.metadata?.name}`));
  return sorted.find((d) => d.metadata?.namespace === preferNamespace) ?? sorted[0];
}
