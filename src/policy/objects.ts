// The admission policies that make the API server inject ghostwire without the webhook (Kubernetes >= 1.36,
// admissionregistration.k8s.io/v1): a parameter ConfigMap with the defaults, one MutatingAdmissionPolicy that
// injects or removes, one ValidatingAdmissionPolicy that refuses what the webhook refuses, one that warns where the
// webhook warns, and one that keeps the parameter ConfigMap valid. Everything is generated from the option table,
// the target kinds and the renderer; nothing here is written per option. PURE.
import { STATUS_ANNOTATION, ENABLED_ANNOTATION } from '../config/options.js';
import type { Defaults } from '../config/defaults.js';
import { TARGET_KINDS } from '../admission/target.js';
import { SYSTEM_NAMESPACES } from '../admission/skip-policy.js';
import { Fresh, formatCel, str } from './cel.js';
import { configVariables, defaultsVariables, optionValue } from './config-cel.js';
import { annotationProblemVariables, defaultsProblemVariables } from './problems-cel.js';
import { parameterData } from './params.js';
import { partTemplates } from './parts.js';
import { mutationExpression, partVariables } from './patch-cel.js';
import { type Variable, actionVariable, subjectVariables, v } from './subject-cel.js';
import { auditAnnotations, boundedDenial, denialVariables, denyValidations, warningVariables, warnValidations } from './validations.js';

const API = 'admissionregistration.k8s.io/v1';

export interface PolicyOptions {
  /** Prefix of the cluster-scoped object names. */
  name: string;
  /** Namespace of the parameter ConfigMap; like the webhook's own namespace, never injected. */
  namespace: string;
  defaults: Defaults;
  version: string;
  /** Only namespaces with this label are in scope (the chart's default: ghostwire.dev/injection=enabled). */
  optInLabel?: { key: string; value: string } | undefined;
}

export type KubeObject = Record<string, unknown>;

export const objectNames = (prefix: string) => ({
  params: `${prefix}-policy-defaults`,
  inject: `${prefix}-inject`,
  validate: `${prefix}-validate`,
  warn: `${prefix}-warn`,
  defaults: `${prefix}-defaults-check`,
});

/** The webhook's matchConditions, generated from the template paths: only objects that carry our annotations. */
function annotatedCondition(): string {
  const paths = [...new Set(TARGET_KINDS.map((t) => t.templatePath.join('.')))].map((p) => (p === '' ? [] : p.split('.')));
  const carries = (segs: string[]) => {
    const meta = ['object', ...segs, 'metadata'];
    const guards = [...segs, 'metadata', 'annotations'].map((_, i) => `has(object.${[...segs, 'metadata', 'annotations'].slice(0, i + 1).join('.')})`);
    const ann = `${meta.join('.')}.annotations`;
    return `(${guards.join(' && ')} && (${str(ENABLED_ANNOTATION)} in ${ann} || ${str(STATUS_ANNOTATION)} in ${ann}))`;
  };
  return paths.map(carries).join(' || ');
}

function matchConstraints(opts: PolicyOptions): KubeObject {
  const groups = new Map<string, { group: string; version: string; resources: string[]; operations: string[] }>();
  for (const t of TARGET_KINDS) {
    const operations = t.templatePath.length === 0 ? ['CREATE'] : ['CREATE', 'UPDATE'];
    const key = `${t.group}/${t.version}/${operations.join(',')}`;
    const g = groups.get(key) ?? { group: t.group, version: t.version, resources: [], operations };
    g.resources.push(t.resource);
    groups.set(key, g);
  }
  return {
    resourceRules: [...groups.values()].map((g) => ({ apiGroups: [g.group], apiVersions: [g.version], resources: g.resources, operations: g.operations, scope: 'Namespaced' })),
    matchPolicy: 'Equivalent',
    namespaceSelector: {
      ...(opts.optInLabel ? { matchLabels: { [opts.optInLabel.key]: opts.optInLabel.value } } : {}),
      matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...SYSTEM_NAMESPACES, opts.namespace] }],
    },
    // No objectSelector, as the webhook: a label must not exempt a workload; ghostwire's own pods are out of scope
    // through the release namespace.
  };
}

/** Every variable the workload policies share, in dependency order. */
export function workloadVariables(version: string): Variable[] {
  const f = new Fresh();
  const leaves = { option: optionValue, id: v('configId') };
  return [
    ...subjectVariables(f),
    ...defaultsVariables(f, 'params != null && has(params.data) ? params.data : {}'),
    ...defaultsProblemVariables(f),
    ...configVariables(f),
    { name: 'ownNamespace', expression: "params != null ? params.metadata.namespace : ''" },
    actionVariable(),
    ...annotationProblemVariables(f),
    ...partVariables(partTemplates(version), leaves, f),
  ];
}

/** The variables the given expressions use, directly or through other variables, in declaration order. */
export function usedVariables(all: readonly Variable[], expressions: readonly string[]): Variable[] {
  const byName = new Map(all.map((x) => [x.name, x]));
  const need = new Set<string>();
  const visit = (text: string): void => {
    for (const m of text.matchAll(/variables\.([A-Za-z_][A-Za-z0-9_]*)/g)) {
      const name = m[1] as string;
      const found = byName.get(name);
      if (!found) throw new Error(`variable ${name} is used but not defined`);
      if (!need.has(name)) {
        need.add(name);
        visit(found.expression);
      }
    }
  };
  expressions.forEach(visit);
  return all.filter((x) => need.has(x.name));
}

/** Every expression of a policy spec (what its variables must serve). */
function expressionsOf(spec: unknown): string[] {
  if (typeof spec === 'string') return [spec];
  if (Array.isArray(spec)) return spec.flatMap(expressionsOf);
  if (spec && typeof spec === 'object') return Object.entries(spec).flatMap(([k, x]) => (k === 'variables' ? [] : expressionsOf(x)));
  return [];
}

/** Every CEL field of a spec with line breaks for readers (CEL ignores them). */
function readable(spec: unknown): unknown {
  if (Array.isArray(spec)) return spec.map(readable);
  if (!spec || typeof spec !== 'object') return spec;
  return Object.fromEntries(Object.entries(spec).map(([k, x]) => [k, typeof x === 'string' && /^(e|messageE|valueE)xpression$/.test(k) ? formatCel(x) : readable(x)]));
}

const policy = (kind: string, name: string, spec: KubeObject, variables: readonly Variable[]): KubeObject => ({
  apiVersion: API,
  kind,
  metadata: { name },
  spec: readable({ ...spec, variables: usedVariables(variables, expressionsOf(spec)) }),
});
const binding = (kind: string, name: string, spec: KubeObject): KubeObject => ({ apiVersion: API, kind: `${kind}Binding`, metadata: { name }, spec: { policyName: name, ...spec } });

export function renderPolicy(opts: PolicyOptions): KubeObject[] {
  const n = objectNames(opts.name);
  const variables = workloadVariables(opts.version);
  const f = new Fresh();
  const common = {
    failurePolicy: 'Fail',
    paramKind: { apiVersion: 'v1', kind: 'ConfigMap' },
    matchConstraints: matchConstraints(opts),
    matchConditions: [
      { name: 'ghostwire-annotated', expression: annotatedCondition() },
      // Decided without the CEL below (and without its cost on every Pod a controller makes): skip-policy.ts leaves
      // a workload with a controller owner to that owner, and a Pod its injected owner made as it is.
      { name: 'not-controller-owned', expression: "request.kind.kind == 'Pod' || !has(object.metadata.ownerReferences) || !object.metadata.ownerReferences.exists(o, has(o.controller) && o.controller == true)" },
      { name: 'not-injected-by-owner', expression: `request.kind.kind != 'Pod' || !has(object.metadata.ownerReferences) || object.metadata.ownerReferences.size() == 0 || !has(object.metadata.annotations) || !(${str(STATUS_ANNOTATION)} in object.metadata.annotations) || !object.metadata.annotations[${str(STATUS_ANNOTATION)}].matches('^[ \\\\t\\\\n\\\\r]*[\\\\[{]')` },
    ],
  };
  const paramRef = { paramRef: { name: n.params, namespace: opts.namespace, parameterNotFoundAction: 'Deny' } };
  const defaultsVars = [...defaultsVariables(f, 'has(object.data) ? object.data : {}'), ...defaultsProblemVariables(f)];
  return [
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: n.params, namespace: opts.namespace }, data: parameterData(opts.defaults) },
    policy('MutatingAdmissionPolicy', n.inject, { ...common, reinvocationPolicy: 'IfNeeded', mutations: [{ patchType: 'JSONPatch', jsonPatch: { expression: mutationExpression() } }] }, variables),
    binding('MutatingAdmissionPolicy', n.inject, paramRef),
    policy('ValidatingAdmissionPolicy', n.validate, { ...common, validations: denyValidations() }, [...variables, ...denialVariables(new Fresh())]),
    binding('ValidatingAdmissionPolicy', n.validate, { ...paramRef, validationActions: ['Deny'] }),
    policy('ValidatingAdmissionPolicy', n.warn, { ...common, validations: warnValidations(), auditAnnotations: auditAnnotations() }, [...variables, ...warningVariables(new Fresh())]),
    binding('ValidatingAdmissionPolicy', n.warn, { ...paramRef, validationActions: ['Warn'] }),
    policy('ValidatingAdmissionPolicy', n.defaults, {
      failurePolicy: 'Fail',
      matchConstraints: {
        resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'], resourceNames: [n.params], operations: ['CREATE', 'UPDATE'], scope: 'Namespaced' }],
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': opts.namespace } },
      },
      validations: [{ expression: `${v('defaultsProblems')}.size() == 0`, messageExpression: boundedDenial(`'ghostwire: invalid defaults in ConfigMap ' + object.metadata.namespace + '/' + object.metadata.name + ': '`, v('defaultsProblems'), f), reason: 'Invalid' }],
    }, defaultsVars),
    binding('ValidatingAdmissionPolicy', n.defaults, { validationActions: ['Deny'] }),
  ];
}
