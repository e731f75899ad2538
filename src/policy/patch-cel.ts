// The JSON patch of the mutating policy, in CEL: inject/template.ts planSpec() and annotationOps() for the API
// server. CEL cannot copy the workload's own containers into a patch value (the API server refuses to marshal its
// typed objects), so, like the webhook's minimal patch, the ops only touch ghostwire's items: remove them by index,
// add them where planSpec() puts them, replace them in place. Items that already are what ghostwire would write
// produce no op, so re-applying, reinvocation and another admission plugin's additions converge. PURE.
import { POLICY_INJECTED_ANNOTATION, STATUS_ANNOTATION, TUNNEL_ANNOTATIONS } from '../config/options.js';
import { INIT_CONTAINER, SHARED_VOLUME, WATCHER_CONTAINER } from '../inject/render.js';
import { type Fresh, bindBool, pointerSegment, str, strList } from './cel.js';
import type { PartTemplates } from './parts.js';
import type { Tmpl } from './parts.js';
import { type Leaves, covers, tmplCel } from './parts-cel.js';
import { type Variable, v } from './subject-cel.js';

const OWN = strList([INIT_CONTAINER, WATCHER_CONTAINER]);
const annotationPath = (meta: string, key: string) => `${meta} + '/annotations/${pointerSegment(key)}'`;
const op = (kind: 'add' | 'remove' | 'replace', path: string, value?: string) =>
  `JSONPatch{op: '${kind}', path: ${path}${value === undefined ? '' : `, value: ${value}`}}`;
const removeAll = (own: string, path: string) => `${v(own)}.reverse().map(i, ${op('remove', `${path} + '/' + string(i)`)})`;

/**
 * Fields the init container and the watcher have in common (env, resources, securityContext, ...): each becomes a
 * variable, so the API server builds it once per admission instead of once per container.
 */
function sharedFields(parts: PartTemplates): Array<[string, Tmpl]> {
  const objects = (t: Tmpl): Array<Extract<Tmpl, { t: 'obj' }>> => (t.t === 'obj' ? [t] : t.t === 'cond' ? [...objects(t.then), ...objects(t.else)] : []);
  const [init] = objects(parts.init);
  const watchers = objects(parts.watcher);
  if (!init) return [];
  return init.fields.filter(([k, v]) => (v.t === 'obj' || v.t === 'list') && watchers.every((w) => w.fields.some(([wk, wv]) => wk === k && JSON.stringify(wv) === JSON.stringify(v))));
}

export function partVariables(parts: PartTemplates, base: Leaves, f: Fresh): Variable[] {
  const shared = sharedFields(parts);
  const leaves: Leaves = { ...base, shared: new Map(shared.map(([k, t]) => [JSON.stringify(t), v(`part_${k}`)])) };
  const spec = `${v('tpl')}.spec`;
  const list = (k: string) => `has(${spec}.${k}) ? ${spec}.${k} : []`;
  const ownIndexes = (arr: string, names: string) => `lists.range(${v(arr)}.size()).filter(i, has(${v(arr)}[i].name) && ${v(arr)}[i].name in ${names})`;
  const coversPart = (item: string, key: keyof PartTemplates) => bindBool(f, item, (a) => covers(a, parts[key], false, leaves, f));
  const k = `(${v('native')} ? 2 : 1)`;
  return [
    { name: 'native', expression: `${leaves.option('nativeSidecar')} == 'true'` },
    { name: 'initFirst', expression: `${leaves.option('initFirst')} == 'true'` },
    ...shared.map(([k, t]) => ({ name: `part_${k}`, expression: tmplCel(t, base) })),
    { name: 'init', expression: tmplCel(parts.init, leaves) },
    { name: 'watcher', expression: tmplCel(parts.watcher, leaves) },
    { name: 'volume', expression: tmplCel(parts.volume, leaves) },
    { name: 'status', expression: tmplCel(parts.status, leaves) },
    // Short enough for kubectl describe, which cuts the status annotation before its configHash.
    { name: 'injectedBy', expression: `'admission policy, config ' + ${leaves.id}` },
    { name: 'specPath', expression: `${v('tplPointer')} + '/spec'` },
    { name: 'ic', expression: list('initContainers') },
    { name: 'cs', expression: list('containers') },
    { name: 'vs', expression: list('volumes') },
    { name: 'icOwn', expression: ownIndexes('ic', OWN) },
    { name: 'csOwn', expression: ownIndexes('cs', OWN) },
    { name: 'vsOwn', expression: ownIndexes('vs', strList([SHARED_VOLUME])) },
    { name: 'icWant', expression: `${v('native')} ? [${v('init')}, ${v('watcher')}] : [${v('init')}]` },
    // Each of ghostwire's existing items is compared once with what it should be.
    { name: 'initOk', expression: `${v('icOwn')}.size() > 0 && ${coversPart(`${v('ic')}[${v('icOwn')}[0]]`, 'init')}` },
    { name: 'watcherAt', expression: `${v('native')} ? (${v('icOwn')}.size() > 1 ? ${v('ic')}[${v('icOwn')}[1]] : dyn({})) : (${v('csOwn')}.size() > 0 ? ${v('cs')}[${v('csOwn')}[0]] : dyn({}))` },
    { name: 'watcherOk', expression: coversPart(v('watcherAt'), 'watcher') },
    // Ours are last (or first with initFirst), in order (init, then a native watcher), and current.
    {
      name: 'icCurrent',
      expression: `${v('icOwn')}.size() == ${k} && ${v('icOwn')} == (${v('initFirst')} ? lists.range(${k}) : lists.range(${k}).map(j, ${v('ic')}.size() - ${k} + j)) && ` +
        `${v('initOk')} && (!${v('native')} || ${v('watcherOk')})`,
    },
    { name: 'csCurrent', expression: `${v('csOwn')}.size() == 1 && ${v('watcherOk')}` },
    { name: 'vsCurrent', expression: `${v('vsOwn')}.size() == 1 && ${coversPart(`${v('vs')}[${v('vsOwn')}[0]]`, 'volume')}` },
  ];
}

/** Ops that make the pod template carry ghostwire's parts (planSpec with the desired parts). */
function specOps(): string {
  const p = (k: string) => `${v('specPath')} + '/${k}'`;
  const ic = `(${v('icCurrent')} ? [] : ${removeAll('icOwn', p('initContainers'))} + (!has(${v('tpl')}.spec.initContainers) ? [${op('add', p('initContainers'), v('icWant'))}] : ` +
    `${v('initFirst')} ? lists.range(${v('icWant')}.size()).map(j, ${op('add', `${p('initContainers')} + '/' + string(j)`, `${v('icWant')}[j]`)}) : ` +
    `${v('icWant')}.map(w, ${op('add', `${p('initContainers')} + '/-'`, 'w')})))`;
  // The watcher and the volume keep their place (inject/template.ts keepInPlace); extra copies are dropped.
  const inPlace = (own: string, current: string, key: string, value: string) =>
    `(${v(own)}.size() == 0 ? (has(${v('tpl')}.spec.${key}) ? [${op('add', `${p(key)} + '/-'`, value)}] : [${op('add', p(key), `[${value}]`)}]) : ` +
    `${v(own)}.slice(1, ${v(own)}.size()).reverse().map(i, ${op('remove', `${p(key)} + '/' + string(i)`)}) + ` +
    `(${v(current)} ? [] : [${op('replace', `${p(key)} + '/' + string(${v(own)}[0])`, value)}]))`;
  const cs = `(${v('native')} ? ${removeAll('csOwn', p('containers'))} : ${inPlace('csOwn', 'csCurrent', 'containers', v('watcher'))})`;
  const vs = inPlace('vsOwn', 'vsCurrent', 'volumes', v('volume'));
  return `${ic} + ${cs} + ${vs}`;
}

/** Set the status and injected-by annotations (and drop tunnel annotations) on the template and a workload. */
function annotationOps(): string {
  const meta = `${v('tplPointer')} + '/metadata'`;
  const wanted = `{${str(STATUS_ANNOTATION)}: ${v('status')}, ${str(POLICY_INJECTED_ANNOTATION)}: ${v('injectedBy')}}`;
  const set = (m: string, ann: string, has: string) =>
    `(!${has} ? [${op('add', `${m} + '/annotations'`, wanted)}] : ` +
    [[STATUS_ANNOTATION, v('status')], [POLICY_INJECTED_ANNOTATION, v('injectedBy')]]
      .map(([key, value]) => `(${ann}[?${str(key as string)}].orValue('') == ${value} ? [] : [${op('add', annotationPath(m, key as string), value as string)}])`)
      .join(' + ') + ')';
  const tplHasMeta = `(${v('isPod')} || has(${v('tpl')}.metadata))`;
  const tplHasAnn = `(${tplHasMeta} && (${v('isPod')} ? has(object.metadata.annotations) : has(${v('tpl')}.metadata.annotations)))`;
  const tpl = `(!${tplHasMeta} ? [${op('add', meta, `{'annotations': ${wanted}}`)}] : ${set(meta, v('tplAnn'), tplHasAnn)})`;
  const tunnel = `${strList([...TUNNEL_ANNOTATIONS])}.filter(k, k in ${v('tplAnn')}).map(k, ${op('remove', `${meta} + '/annotations/' + k.replace('~', '~0').replace('/', '~1')`)})`;
  const obj = `(${v('isPod')} ? [] : ${set("'/metadata'", v('objAnn'), 'has(object.metadata.annotations)')})`;
  return `${tpl} + ${tunnel} + ${obj}`;
}

/** Ops that remove everything ghostwire added (admission/patch-step.ts removalPatch). */
function removalOps(): string {
  const p = (k: string) => `${v('specPath')} + '/${k}'`;
  const meta = `${v('tplPointer')} + '/metadata'`;
  const tplKeys = `${strList([STATUS_ANNOTATION, POLICY_INJECTED_ANNOTATION, ...TUNNEL_ANNOTATIONS])}.filter(k, k in ${v('tplAnn')}).map(k, ${op('remove', `${meta} + '/annotations/' + k.replace('~', '~0').replace('/', '~1')`)})`;
  const obj = `(${v('isPod')} ? [] : ${strList([STATUS_ANNOTATION, POLICY_INJECTED_ANNOTATION])}.filter(k, k in ${v('objAnn')}).map(k, ${op('remove', `'/metadata/annotations/' + k.replace('~', '~0').replace('/', '~1')`)}))`;
  return `${removeAll('icOwn', p('initContainers'))} + ${removeAll('csOwn', p('containers'))} + ${removeAll('vsOwn', p('volumes'))} + ${tplKeys} + ${obj}`;
}

/** The mutation: inject when the annotations are fine (or tolerated), remove when asked to, otherwise nothing. */
export function mutationExpression(): string {
  // Invalid defaults are refused by the validating policy (and their keys fall back to the built-ins here).
  const inject = `${v('action')} == 'configure' && (${v('warnMode')} || ${v('problemItems')}.size() == 0) && !${v('tunnelRefused')}`;
  return `${inject} ? ${specOps()} + ${annotationOps()} : ${v('action')} in ['remove', 'remove-host-network'] ? ${removalOps()} : []`;
}
