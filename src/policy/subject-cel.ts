// CEL variables for what is admitted and whether ghostwire acts on it: the same steps as admission/subject.ts and
// admission/skip-policy.ts, in the same order, with the same reason codes. PURE.
import { ENABLED_ANNOTATION, STATUS_ANNOTATION } from '../config/options.js';
import { parseBoolean } from '../config/validate.js';
import { SYSTEM_NAMESPACES } from '../admission/skip-policy.js';
import { TARGET_KINDS } from '../admission/target.js';
import { type CelRule, type Fresh, str, strList } from './cel.js';
import { ruleForParser } from './option-rules.js';

export interface Variable {
  name: string;
  expression: string;
}

export const v = (name: string): string => `variables.${name}`;
export const BOOL = ruleForParser(parseBoolean) as CelRule;

const kindKey = (group: string, kind: string) => `${group}/${kind}`;

/** Access path of the template in CEL, its JSON pointer, and the has() chain that guards it, per distinct path. */
function templatePaths() {
  const byPath = new Map<string, string[]>();
  for (const t of TARGET_KINDS) byPath.set(t.templatePath.join('.'), [...(byPath.get(t.templatePath.join('.')) ?? []), kindKey(t.group, t.kind)]);
  return [...byPath].map(([path, kinds]) => {
    const segs = path === '' ? [] : path.split('.');
    const guards = segs.map((_, i) => `has(object.${segs.slice(0, i + 1).join('.')})`);
    return { kinds, access: ['object', ...segs].join('.'), pointer: segs.map((s) => `/${s}`).join(''), found: guards.length ? guards.join(' && ') : 'true' };
  });
}

/** The same paths on oldObject (UPDATE): what was stored before this write. */
function oldPaths() {
  return templatePaths().map((p) => ({ ...p, access: p.access.replace(/^object/, 'oldObject'), found: p.found.replace(/has\(object\./g, 'has(oldObject.') }));
}

/** A conditional over the template paths: `pick(path)` for the request's kind. */
function byKind(pick: (p: ReturnType<typeof templatePaths>[number]) => string, paths = templatePaths()): string {
  const last = paths.pop() as ReturnType<typeof templatePaths>[number];
  return paths.reduceRight((rest, p) => `(${v('kindKey')} in ${strList(p.kinds)} ? ${pick(p)} : ${rest})`, pick(last));
}

/** The enabled state as config/resolve.ts resolveEnabled() decides it: the highest layer that sets it. */
function enabledVariables(f: Fresh): Variable[] {
  const key = str(ENABLED_ANNOTATION);
  const x = f.next('x');
  return [
    { name: 'enabledValues', expression: `${v('layers')}.filter(m, ${key} in m).map(m, m[${key}])` },
    { name: 'enabledError', expression: `${v('enabledValues')}.size() > 0 && !(${BOOL.valid(`${v('enabledValues')}[${v('enabledValues')}.size() - 1]`, f)})` },
    { name: 'enabledValid', expression: `${v('enabledValues')}.filter(${x}, ${BOOL.valid(x, f)}).map(${x}, ${BOOL.text(x, f)})` },
    { name: 'enabledOn', expression: `${v('enabledValid')}.size() > 0 && ${v('enabledValid')}[${v('enabledValid')}.size() - 1] == 'true'` },
    // The workloadRef warning asks only the object's own annotation (a Rollout without a template has no other).
    { name: 'objectEnabled', expression: `${key} in ${v('objAnn')} && ${BOOL.valid(`${v('objAnn')}[${key}]`, f)} && ${BOOL.text(`${v('objAnn')}[${key}]`, f)} == 'true'` },
  ];
}

export function subjectVariables(f: Fresh): Variable[] {
  return [
    { name: 'kindKey', expression: `request.kind.group + '/' + request.kind.kind` },
    { name: 'isPod', expression: `${v('kindKey')} == ${str(kindKey('', 'Pod'))}` },
    { name: 'tplFound', expression: byKind((p) => `(${p.found})`) },
    { name: 'tpl', expression: `${v('tplFound')} ? ${byKind((p) => p.access)} : dyn({})` },
    { name: 'tplPointer', expression: byKind((p) => str(p.pointer)) },
    { name: 'objAnn', expression: `has(object.metadata.annotations) ? object.metadata.annotations : {}` },
    { name: 'tplAnn', expression: `${v('isPod')} ? ${v('objAnn')} : (${v('tplFound')} && has(${v('tpl')}.metadata) && has(${v('tpl')}.metadata.annotations) ? ${v('tpl')}.metadata.annotations : {})` },
    // Lowest first (object, then template), as admission/subject.ts orders them; a Pod has one layer.
    { name: 'layers', expression: `${v('isPod')} ? [${v('tplAnn')}] : [${v('objAnn')}, ${v('tplAnn')}]` },
    { name: 'layersDesc', expression: `${v('isPod')} ? [${v('tplAnn')}] : [${v('tplAnn')}, ${v('objAnn')}]` },
    { name: 'ns', expression: 'request.namespace' },
    { name: 'what', expression: `request.kind.kind + ' ' + ${v('ns')} + '/' + (has(object.metadata.name) ? object.metadata.name : has(object.metadata.generateName) ? object.metadata.generateName : '(unnamed)')` },
    // The status annotation marks an earlier injection. The webhook parses it as JSON; CEL cannot, so a value that
    // starts like a JSON object or array counts (docs/install.md lists this difference).
    { name: 'previous', expression: `${str(STATUS_ANNOTATION)} in ${v('tplAnn')} && ${v('tplAnn')}[${str(STATUS_ANNOTATION)}].matches('^[ \\\\t\\\\n\\\\r]*[\\\\[{]')` },
    { name: 'owners', expression: 'has(object.metadata.ownerReferences) ? object.metadata.ownerReferences : []' },
    { name: 'controlled', expression: `${v('owners')}.exists(o, has(o.controller) && o.controller == true)` },
    { name: 'hostNetwork', expression: `${v('tplFound')} && has(${v('tpl')}.spec) && has(${v('tpl')}.spec.hostNetwork) && ${v('tpl')}.spec.hostNetwork == true` },
    // Whether the stored object was injected (validating policies see the object after the mutation).
    {
      name: 'oldPrevious',
      expression: `request.operation == 'UPDATE' && oldObject != null && ${byKind((p) => `(${p.found} && has(${p.access}.metadata) && has(${p.access}.metadata.annotations) && ${str(STATUS_ANNOTATION)} in ${p.access}.metadata.annotations)`, oldPaths())}`,
    },
    { name: 'workloadRef', expression: `${v('kindKey')} == 'argoproj.io/Rollout' && !${v('tplFound')} && has(object.spec) && has(object.spec.workloadRef)` },
    ...enabledVariables(f),
  ];
}

/**
 * The decision of admission/skip-policy.ts, as a reason code: a skip reason, 'remove' (undo an earlier injection),
 * or 'configure' (resolve the config, then inject or refuse). `ownNamespace` is the namespace of the parameters.
 */
export function actionVariable(): Variable {
  const steps: Array<[string, string]> = [
    [`!${v('tplFound')}`, `${v('workloadRef')} ? 'workload-ref' : 'no-pod-template'`],
    [`${v('isPod')} && request.operation == 'UPDATE'`, "'pod-update'"],
    [`!${v('isPod')} && ${v('controlled')}`, "'controller-owned'"],
    [`${v('ns')} in ${strList([...SYSTEM_NAMESPACES])}`, "'system-namespace'"],
    [`${v('ns')} == ${v('ownNamespace')}`, "'own-namespace'"],
    // An injected workload that turns hostNetwork on loses ghostwire's containers (skip-policy.ts).
    [`${v('hostNetwork')} && ${v('enabledOn')}`, `${v('previous')} ? 'remove-host-network' : 'host-network'`],
    [`${v('isPod')} && ${v('previous')} && ${v('owners')}.size() > 0`, "'injected-by-owner'"],
    [`${v('enabledError')} && ${v('warnMode')}`, "'not-enabled'"],
    [`!${v('enabledOn')} && !${v('enabledError')}`, `${v('previous')} ? 'remove' : 'not-enabled'`],
  ];
  return { name: 'action', expression: steps.reduceRight((rest, [cond, then]) => `(${cond} ? (${then}) : ${rest})`, "'configure'") };
}
