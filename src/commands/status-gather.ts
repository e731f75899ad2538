// What `ghostwire status` reads, in order: the webhook (its configuration, Deployment, defaults and replicas), the
// workloads and pods in scope, then every injected pod's watcher metrics through the pod proxy with bounded
// concurrency. Reads that fail are recorded (the report is then incomplete), never thrown past this point.
import type { Defaults } from '../config/index.js';
import { ApiReadError, type StatusClient } from '../k8s/status-client.js';
import type { KubeObject } from '../kube/objects.js';
import { type DefaultsResolution, defaultsBuiltIn, defaultsFromConfigMap, defaultsFromFlag, defaultsUnknown, defaultsUnreadable } from '../status/defaults.js';
import type { ProbeResult } from '../status/model.js';
import type { Listed } from '../status/report.js';
import { type AdmissionScope, type ScopeChoice, WEBHOOK_COMPONENT_SELECTOR, chooseDeployment, chooseScope, serveFlags } from '../status/webhook.js';
import { KINDS, type KindInfo } from '../status/workloads.js';
import { mapBounded } from '../util/pool.js';

export interface GatherOptions {
  namespaces: string[] | 'all';
  webhookConfig?: string | undefined;
  webhookNamespace?: string | undefined;
  webhookDeployment?: string | undefined;
  defaultsConfigMap?: { namespace: string; name: string } | undefined;
  defaultsFile?: { defaults: Defaults; path: string } | undefined;
  concurrency: number;
}

export interface WebhookFacts {
  choice: ScopeChoice;
  deployment: KubeObject | undefined;
  lookedFor: string;
  defaults: DefaultsResolution;
  ownNamespace: string | undefined;
  replicas: Array<{ name: string; probe: ProbeResult | undefined }>;
}

export interface ScopeFacts {
  objects: Listed[];
  namespaceLabels: Map<string, Record<string, string> | undefined>;
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 400);

/** Records failed reads; `attempt` returns undefined for them. */
export class Reads {
  readonly failed: string[] = [];
  async attempt<T>(what: string, read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read();
    } catch (err) {
      this.failed.push(`${what}: ${errorText(err)}`);
      return undefined;
    }
  }
}

const path = (info: KindInfo, namespace?: string): string => {
  const root = info.apiVersion.includes('/') ? `/apis/${info.apiVersion}` : `/api/${info.apiVersion}`;
  return namespace ? `${root}/namespaces/${encodeURIComponent(namespace)}/${info.resource}` : `${root}/${info.resource}`;
};
const DEPLOYMENTS = KINDS.find((k) => k.kind.kind === 'Deployment') as KindInfo;
const PODS = KINDS.find((k) => k.kind.kind === 'Pod') as KindInfo;

async function findDeployment(client: StatusClient, reads: Reads, o: GatherOptions, scope: AdmissionScope | undefined): Promise<{ deployment: KubeObject | undefined; lookedFor: string }> {
  const ns = o.webhookNamespace ?? scope?.service?.namespace;
  if (o.webhookDeployment && ns) {
    const d = await reads.attempt(`get Deployment ${ns}/${o.webhookDeployment}`, () => client.get(`${path(DEPLOYMENTS, ns)}/${encodeURIComponent(o.webhookDeployment as string)}`));
    return { deployment: d && chooseDeployment([d], ns), lookedFor: `Deployment ${ns}/${o.webhookDeployment} running ghostwire serve` };
  }
  let candidates: KubeObject[] = [];
  if (ns) candidates = (await reads.attempt(`list Deployments in ${ns}`, () => client.list(path(DEPLOYMENTS, ns), WEBHOOK_COMPONENT_SELECTOR))) ?? [];
  // In url mode (or a Service elsewhere) the label is looked for in every namespace.
  if (chooseDeployment(candidates, ns, o.webhookDeployment) === undefined && !o.webhookNamespace) {
    candidates = (await reads.attempt('list Deployments in all namespaces', () => client.list(path(DEPLOYMENTS), WEBHOOK_COMPONENT_SELECTOR))) ?? candidates;
  }
  return { deployment: chooseDeployment(candidates, ns, o.webhookDeployment), lookedFor: `label ${WEBHOOK_COMPONENT_SELECTOR}${ns ? `, preferring namespace ${ns}` : ''}` };
}

async function readDefaults(client: StatusClient, o: GatherOptions, deployment: KubeObject | undefined, scope: AdmissionScope | undefined): Promise<DefaultsResolution> {
  if (o.defaultsFile) return defaultsFromFlag(o.defaultsFile.defaults, o.defaultsFile.path);
  const serve = deployment ? serveFlags(deployment) : undefined;
  let where = o.defaultsConfigMap ?? serve?.defaultsConfigMap ?? undefined;
  if (!where && serve?.defaultsFile) return defaultsUnknown(`file ${serve.defaultsFile} inside the webhook pod`, 'the webhook reads its defaults from a file this command cannot see: pass the same file with --defaults to compare config hashes');
  if (!where && serve) return defaultsBuiltIn();
  // No Deployment to ask: the chart's naming (<service>-defaults next to the Service), said as a guess.
  if (!where && scope?.service) where = { namespace: scope.service.namespace, name: `${scope.service.name}-defaults` };
  if (!where) return defaultsUnknown('unknown', 'no webhook Deployment found to read --defaults-configmap from: pass --defaults-configmap NS/NAME or --defaults FILE');
  const at = where;
  try {
    const resolution = defaultsFromConfigMap(await client.get(`/api/v1/namespaces/${encodeURIComponent(at.namespace)}/configmaps/${encodeURIComponent(at.name)}`), at);
    if (!o.defaultsConfigMap && !serve) resolution.source += ' (guessed from the Service name)';
    return resolution;
  } catch (err) {
    return defaultsUnreadable(at, errorText(err));
  }
}

/**
 * Reads one pod's metrics through the pod proxy; failures are results, not exceptions. A quick failure (502, 503, a
 * broken connection: a pod restarting, a proxied connection closed under the request) is tried once more; a 4xx,
 * a timeout or an answer too large is not.
 */
export async function probe(client: StatusClient, namespace: string, pod: string, port: number, scheme: 'http' | 'https' = 'http'): Promise<ProbeResult> {
  let error = '';
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      return { ok: true, text: await client.proxy(namespace, pod, port, '/metrics', scheme) };
    } catch (err) {
      error = err instanceof ApiReadError ? err.message : errorText(err);
      if (!(err instanceof ApiReadError && err.transient)) break;
    }
  }
  return { ok: false, error };
}

const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {});
const recs = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.map(rec) : []);

/** The webhook container's port named https (the chart's 8443). */
function replicaPort(deployment: KubeObject): number {
  const ports = recs(rec(rec(rec(deployment.spec).template).spec).containers).flatMap((c) => recs(c.ports));
  const port = ports.find((p) => p.name === 'https')?.containerPort;
  return typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536 ? port : 8443;
}

async function readReplicas(client: StatusClient, reads: Reads, deployment: KubeObject, concurrency: number): Promise<WebhookFacts['replicas']> {
  const ns = String(deployment.metadata?.namespace ?? '');
  const matchLabels = rec(rec(rec(deployment.spec).selector).matchLabels);
  if (Object.keys(matchLabels).length === 0) return [];
  const selector = Object.entries(matchLabels).map(([k, v]) => `${k}=${String(v)}`).join(',');
  const pods = (await reads.attempt(`list the webhook's pods in ${ns}`, () => client.list(path(PODS, ns), selector))) ?? [];
  const port = replicaPort(deployment);
  return mapBounded(pods, concurrency, async (p) => {
    const name = String(p.metadata?.name ?? '');
    const st = rec(p.status);
    const running = st.phase === 'Running' && typeof st.podIP === 'string' && !p.metadata?.deletionTimestamp;
    return { name, probe: running ? await probe(client, ns, name, port, 'https') : undefined };
  });
}

export async function gatherWebhook(client: StatusClient, reads: Reads, o: GatherOptions): Promise<WebhookFacts> {
  const mwcPath = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
  const configs = o.webhookConfig
    ? [await reads.attempt(`get MutatingWebhookConfiguration ${o.webhookConfig}`, () => client.get(`${mwcPath}/${encodeURIComponent(o.webhookConfig as string)}`))].filter((c): c is KubeObject => c !== undefined)
    : ((await reads.attempt('list MutatingWebhookConfigurations', () => client.list(mwcPath))) ?? []);
  const choice = chooseScope(configs, o.webhookConfig);
  const { deployment, lookedFor } = await findDeployment(client, reads, o, choice.scope);
  const defaults = await readDefaults(client, o, deployment, choice.scope);
  const serve = deployment ? serveFlags(deployment) : undefined;
  return {
    choice,
    deployment,
    lookedFor,
    defaults,
    ownNamespace: serve?.ownNamespace ?? o.webhookNamespace ?? choice.scope?.service?.namespace,
    replicas: deployment ? await readReplicas(client, reads, deployment, o.concurrency) : [],
  };
}

/** Every object of every kind in scope, and the namespaces' labels. */
export async function gatherScope(client: StatusClient, reads: Reads, o: GatherOptions, onList?: (what: string) => void): Promise<ScopeFacts> {
  const namespaceLabels = new Map<string, Record<string, string> | undefined>();
  const labelsOf = (n: KubeObject | undefined) => (n ? ((n.metadata?.labels as Record<string, string> | undefined) ?? {}) : undefined);
  if (o.namespaces === 'all') {
    for (const n of (await reads.attempt('list namespaces', () => client.list('/api/v1/namespaces'))) ?? []) namespaceLabels.set(String(n.metadata?.name), labelsOf(n));
  } else {
    for (const ns of o.namespaces) {
      const n = await reads.attempt(`get namespace ${ns}`, async () => {
        const got = await client.get(`/api/v1/namespaces/${encodeURIComponent(ns)}`);
        if (!got) throw new ApiReadError('not found', 404);
        return got;
      });
      namespaceLabels.set(ns, labelsOf(n));
    }
  }
  const objects: Listed[] = [];
  for (const ns of o.namespaces === 'all' ? [undefined] : o.namespaces) {
    for (const kind of KINDS) {
      onList?.(`${kind.resource}${ns ? ` in ${ns}` : ''}`);
      const items = await listKind(client, reads, kind, ns);
      for (const object of items) objects.push({ kind, object });
    }
  }
  return { objects, namespaceLabels };
}

async function listKind(client: StatusClient, reads: Reads, kind: KindInfo, ns: string | undefined): Promise<KubeObject[]> {
  try {
    return await client.list(path(kind, ns));
  } catch (err) {
    // Argo Rollouts not installed: there are no Rollouts, which is not a failed read.
    if (kind.kind.kind === 'Rollout' && err instanceof ApiReadError && err.status === 404) return [];
    reads.failed.push(`list ${kind.resource}${ns ? ` in ${ns}` : ''}: ${errorText(err)}`);
    return [];
  }
}
