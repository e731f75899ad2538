// Where the shadow controller may act: the webhook's exclusions (system namespaces, its own namespace, the
// namespace opt-in label) and the namespaces it was given. Checked in code before every reconcile, so the controller
// refuses to act elsewhere even when its credentials would allow it.
import { SYSTEM_NAMESPACES } from '../kube/namespaces.js';

export interface ShadowScope {
  /** The namespaces served (the chart passes injectedNamespaces); undefined: every namespace (development). */
  namespaces?: readonly string[] | undefined;
  /** ghostwire's own namespace (the release namespace): never acted in. */
  ownNamespace?: string | undefined;
  /** When set, a namespace must carry this label, as the webhook's namespaceSelector requires. */
  optInLabel?: { key: string; value: string } | undefined;
}

/**
 * In scope, or why not. `loud`: the namespace is served but has not opted in, so the workload gets a status and an
 * Event saying why; otherwise (excluded or not served) nothing at all is written there.
 */
export type ScopeVerdict = { inScope: true } | { inScope: false; loud: boolean; reason: string };

const IN_SCOPE: ScopeVerdict = { inScope: true };

/** Why a namespace is out of scope whatever its labels say, or undefined. */
export function excludedReason(scope: ShadowScope, namespace: string): string | undefined {
  if (SYSTEM_NAMESPACES.has(namespace)) return `${namespace} is a system namespace`;
  if (scope.ownNamespace !== undefined && namespace === scope.ownNamespace) return `${namespace} is ghostwire's own namespace`;
  if (scope.namespaces !== undefined && !scope.namespaces.includes(namespace)) return `${namespace} is not one of the namespaces served (${scope.namespaces.join(', ')})`;
  return undefined;
}

/** `labels`: the Namespace's labels as last seen, undefined when it was never seen (missing, or not readable). */
export function scopeVerdict(scope: ShadowScope, namespace: string, labels: Readonly<Record<string, string>> | undefined): ScopeVerdict {
  const excluded = excludedReason(scope, namespace);
  if (excluded) return { inScope: false, loud: false, reason: excluded };
  const want = scope.optInLabel;
  if (want && labels?.[want.key] !== want.value) {
    // A Namespace that could not be read counts as not opted in: the controller never acts on a guess.
    const why = labels === undefined ? `its labels could not be read, so label ${want.key}=${want.value} is not known to be there` : `label ${want.key}=${want.value} missing`;
    return { inScope: false, loud: true, reason: `namespace ${namespace} has not opted in (${why}): ghostwire creates no shadow here` };
  }
  return IN_SCOPE;
}

/** Problems with a configured scope (a served namespace that is always excluded), for a usage error at start. */
export function scopeProblems(scope: ShadowScope): string[] {
  const out: string[] = [];
  for (const ns of scope.namespaces ?? []) {
    const reason = excludedReason({ ownNamespace: scope.ownNamespace }, ns);
    if (reason) out.push(`${reason}: the shadow controller never acts there`);
  }
  if (scope.namespaces !== undefined && scope.namespaces.length === 0) out.push('no namespace to serve');
  return out;
}

/** "key=value" of --opt-in-label; undefined when malformed. */
export function parseOptInLabel(text: string): { key: string; value: string } | undefined {
  const eq = text.indexOf('=');
  if (eq <= 0) return undefined;
  const key = text.slice(0, eq);
  const value = text.slice(eq + 1);
  const keyOk = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(key) && key.length <= 317;
  const valueOk = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(value) && value.length <= 63;
  return keyOk && valueOk ? { key, value } : undefined;
}
