// `ghostwire inject` without a cluster: each document goes through the webhook's own mutate(), then the patch is
// applied with fast-json-patch exactly as the API server would.
import fastJsonPatch from 'fast-json-patch';
import { type MutateContext, mutate } from '../admission/mutate.js';
import type { MutationOutcome } from '../admission/outcome.js';
import type { AdmissionRequest, Operation } from '../admission/types.js';
import { type KubeObject, splitApiVersion } from '../kube/objects.js';

export interface DocumentResult {
  /** "Deployment/web" style label for messages. */
  label: string;
  index: number;
  outcome?: MutationOutcome;
  output: unknown;
  /** A v1 List's per-item results. */
  items?: DocumentResult[];
}

/** A synthetic CREATE review for one manifest, as the API server would send it. */
export function requestFor(object: KubeObject, defaultNamespace: string, operation: Operation = 'CREATE'): AdmissionRequest {
  const { group, version } = splitApiVersion(object.apiVersion ?? 'v1');
  const request: AdmissionRequest = {
    uid: 'offline',
    kind: { group, version, kind: object.kind ?? '' },
    namespace: object.metadata?.namespace ?? defaultNamespace,
    operation,
    object,
  };
  if (object.metadata?.name) request.name = object.metadata.name;
  return request;
}

const isObject = (v: unknown): v is KubeObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function injectOne(doc: unknown, index: number, ctx: MutateContext, namespace: string): DocumentResult {
  if (!isObject(doc) || typeof doc.kind !== 'string') return { label: `document ${index + 1}`, index, output: doc };
  const label = `${doc.kind}/${doc.metadata?.name ?? doc.metadata?.generateName ?? '(unnamed)'}`;
  const outcome = mutate(requestFor(doc, namespace), ctx);
  if (!outcome.allowed || outcome.patch.length === 0) return { label, index, outcome, output: doc };
  const patched = fastJsonPatch.applyPatch(doc, outcome.patch as fastJsonPatch.Operation[], true, false).newDocument;
  return { label, index, outcome, output: patched };
}

/** Injects every document; a v1 List is injected item by item and stays a List. Order is kept. */
export function injectDocuments(docs: readonly unknown[], ctx: MutateContext, namespace = 'default'): DocumentResult[] {
  return docs.map((doc, index) => {
    if (isObject(doc) && doc.kind === 'List' && Array.isArray(doc.items)) {
      const items = (doc.items as unknown[]).map((item, i) => injectOne(item, i, ctx, namespace));
      const failed = items.find((r) => r.outcome && !r.outcome.allowed);
      const result: DocumentResult = { label: `List (document ${index + 1})`, index, output: { ...doc, items: items.map((r) => r.output) }, items };
      if (failed?.outcome) result.outcome = failed.outcome;
      return result;
    }
    return injectOne(doc, index, ctx, namespace);
  });
}

/** All per-object results, Lists flattened, for --patch output and error reporting. */
export function flatten(results: readonly DocumentResult[]): DocumentResult[] {
  return results.flatMap((r) => r.items ?? [r]);
}
