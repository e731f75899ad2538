// Shared by the policy e2e tests: install the generated admission policies on a real API server, create objects
// through it (dry run or for real), and compare what it stored with what the webhook's own pipeline produces.
import { stringify } from 'yaml';
import { TARGET_KINDS } from '../../src/admission/target.js';
import { type Defaults, builtinDefaults } from '../../src/config/defaults.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { covers } from '../../src/inject/template.js';
import { flatten, injectDocuments } from '../../src/offline/inject-documents.js';
import { policyConfigId } from '../../src/policy/identity.js';
import { renderPolicy } from '../../src/policy/objects.js';
import { parameterData } from '../../src/policy/params.js';
import { VERSION } from '../../src/version.js';
import { TEST_TUNNEL_KEY } from '../helpers/injector-cases.js';
import { type RunResult, waitFor } from './harness.js';

export const POLICY_NS = 'ghostwire';
export const PARAMS = 'ghostwire-policy-defaults';

/** What these helpers need of a control plane (the harness's ControlPlane has it). */
export interface Cluster {
  api: (method: string, path: string, body?: unknown, contentType?: string) => Promise<{ status: number; body: any }>;
  kubectl: (args: string[], opts?: { input?: string; allowFail?: boolean }) => Promise<RunResult>;
}

type Obj = { apiVersion: string; kind: string; metadata: { name?: string; generateName?: string; namespace?: string; annotations?: Record<string, string> }; spec?: any };

export const yaml = (...docs: unknown[]) => docs.map((d) => stringify(d)).join('---\n');

/** The collection path of an object's resource (the kinds ghostwire targets). */
export function collectionPath(o: Obj): string {
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  const t = TARGET_KINDS.find((k) => k.group === group && k.kind === o.kind);
  if (!t) throw new Error(`not a target kind: ${o.apiVersion} ${o.kind}`);
  return `${group ? `/apis/${group}/${version}` : `/api/${version}`}/namespaces/${o.metadata.namespace ?? 'default'}/${t.resource}`;
}

/** Creates through the API server; `dryRun` stores nothing. Returns the stored object, or the refusal's message. */
export async function create(c: Cluster, o: Obj, dryRun = true): Promise<{ stored?: any; refused?: string; warnings?: string[] }> {
  const r = await c.api('POST', `${collectionPath(o)}${dryRun ? '?dryRun=All' : ''}`, o);
  if (r.status === 201 || r.status === 200) return { stored: r.body };
  return { refused: String(r.body?.message ?? JSON.stringify(r.body)) };
}

/** Replaces the parameter ConfigMap (the defaults) and waits until admissions use it. */
export async function applyParams(c: Cluster & Partial<Endpoint>, defaults: Defaults): Promise<void> {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: PARAMS, namespace: POLICY_NS }, data: parameterData(defaults) };
  await c.kubectl(['apply', '-f', '-'], { input: yaml(cm) });
  await waitForParams(c, defaults);
}

/** Installs the policies (the output of `ghostwire policy`) and waits until the API server injects with them. */
export async function installPolicy(c: Cluster & Endpoint, defaults: Defaults = builtinDefaults(), probeNamespace = 'shop'): Promise<void> {
  await c.kubectl(['create', 'namespace', POLICY_NS], { allowFail: true });
  await c.kubectl(['apply', '-f', '-'], { input: yaml(...renderPolicy({ name: 'ghostwire', namespace: POLICY_NS, defaults, version: VERSION, optInLabel: { key: 'ghostwire.dev/injection', value: 'enabled' } })) });
  await waitForParams(c, defaults, probeNamespace);
  await waitFor('the check of the parameter ConfigMap in effect', 30_000, async () => {
    const r = await c.kubectl(['-n', POLICY_NS, 'patch', 'configmap', PARAMS, '--dry-run=server', '--type', 'merge', '-p', '{"data":{"natChain":"bad chain"}}'], { allowFail: true });
    return r.code !== 0 && r.stderr.includes('invalid defaults');
  }, 250);
}

/**
 * The policies and the given defaults are in effect in every policy (each follows its parameters on its own, and
 * the warning policy was measured to lag the others by seconds): a probe with an invalid ghostwire.dev/jumpHook, an
 * unknown key and an image the defaults may or may not allow gets exactly the webhook's answer for these defaults.
 */
export async function waitForParams(c: Cluster & Partial<Endpoint>, defaults: Defaults, ns = 'shop'): Promise<void> {
  const image = defaults.allowedImages[0]?.replace(/\/$/, '/x') ?? 'registry.example/not-allowed';
  const probe = annotatedDeployment('probe', { 'ghostwire.dev/enabled': 'true', 'ghostwire.dev/jumpHook': 'FORWARD', 'ghostwire.dev/probe-unknown': 'x', 'ghostwire.dev/image': `${image}:probe` });
  probe.metadata.namespace = ns;
  if (!c.server) throw new Error('waitForParams needs the API server endpoint');
  const ep = c as Endpoint;
  let last: string[] = [];
  await waitFor('the admission policies and their defaults in effect', 30_000, async () => {
    last = await compareOne(ep, probe, defaults);
    return last.length === 0;
  }, 250).catch((err: Error) => {
    throw new Error(`${err.message}\n${last.join('\n')}`);
  });
}

export interface Expected {
  result: string;
  output: any;
  denial?: string;
  warnings: string[];
  /** The identity the policy writes for the effective config. */
  id?: string;
}

/** Annotations as the API server sends them to a webhook: Go writes map keys sorted. */
function sortAnnotations(o: Obj): Obj {
  const copy = structuredClone(o);
  const sort = (m?: Record<string, string>) => (m ? Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : m);
  copy.metadata.annotations = sort(copy.metadata.annotations);
  const tpl = templateOf(copy);
  if (tpl?.metadata?.annotations) tpl.metadata.annotations = sort(tpl.metadata.annotations);
  return copy;
}

/** What the webhook's pipeline does with the object (the same function `ghostwire inject` runs). */
export function expected(input: Obj, defaults: Defaults): Expected {
  const o = sortAnnotations(input);
  const [r] = injectDocuments([o], { defaults, version: VERSION, tunnelKey: TEST_TUNNEL_KEY });
  const outcome = flatten([r!])[0]?.outcome;
  const tpl = o.kind === 'Pod' ? o : o.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template : o.spec?.template;
  const layers = o.kind === 'Pod' ? [o.metadata.annotations] : [o.metadata.annotations, tpl?.metadata?.annotations];
  const config = resolveConfig(defaults, layers).config;
  const out: Expected = { result: outcome?.result ?? 'none', output: r!.output, warnings: outcome?.warnings ?? [], id: policyConfigId({ ...config, tunnel: false }) };
  if (outcome?.denial) out.denial = outcome.denial.message;
  return out;
}

const HASH = /"configHash":"[^"]*"/g;
/** Without the config hash (the policy's differs, documented), and without empty maps (the API server drops them). */
const withoutHash = (o: unknown) =>
  JSON.parse(JSON.stringify(o).replace(/\\"configHash\\":\\"[^\\"]*\\"/g, '\\"configHash\\":\\"-\\"'), (k, v) => (k === 'annotations' && v && Object.keys(v).length === 0 ? undefined : v));

function templateOf(o: any): any {
  return o.kind === 'Pod' ? o : o.kind === 'CronJob' ? o.spec?.jobTemplate?.spec?.template : o.spec?.template;
}

/** Differences between what the API server stored and the webhook's output; [] when the injected parts agree. */
export function differences(stored: any, exp: Expected): string[] {
  const out: string[] = [];
  const names = (o: any) => {
    const s = templateOf(o)?.spec ?? {};
    // The ServiceAccount plugin adds its token volume to Pods (for the webhook's too).
    const volumes = (s.volumes ?? []).map((v: any) => v.name).filter((n: string) => !n.startsWith('kube-api-access-'));
    return JSON.stringify([(s.initContainers ?? []).map((c: any) => c.name), (s.containers ?? []).map((c: any) => c.name), volumes]);
  };
  if (names(stored) !== names(exp.output)) out.push(`containers and volumes: stored ${names(stored)}, webhook ${names(exp.output)}`);
  if (!covers(withoutHash(stored.spec), withoutHash(exp.output.spec))) out.push('spec: the stored object does not carry the webhook\'s injected parts');
  for (const [where, a, b] of [['template', templateOf(stored)?.metadata?.annotations, templateOf(exp.output)?.metadata?.annotations], ['object', stored.metadata.annotations, exp.output.metadata.annotations]] as const) {
    const s = a?.['ghostwire.dev/status'];
    const w = b?.['ghostwire.dev/status'];
    if ((s === undefined) !== (w === undefined)) out.push(`${where} status annotation: stored ${s ?? '(none)'}, webhook ${w ?? '(none)'}`);
    else if (s !== undefined) {
      if (s.replace(HASH, '') !== w.replace(HASH, '')) out.push(`${where} status annotation: stored ${s}, webhook ${w}`);
      if (JSON.parse(s).configHash !== exp.id) out.push(`${where} status configHash ${JSON.parse(s).configHash}, expected the policy identity ${exp.id}`);
      const by = (where === 'template' ? templateOf(stored)?.metadata?.annotations : stored.metadata.annotations)?.['ghostwire.dev/injected-by'];
      if (by !== `admission policy, config ${exp.id}`) out.push(`${where} ghostwire.dev/injected-by: ${by}`);
    }
  }
  return out;
}

/** An HTTPS request to the API server that also returns its Warning headers (what kubectl prints). */
export async function request(cp: { server: string; token: string; caPem: string }, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; warnings: string[] }> {
  const { request: httpsRequest } = await import('node:https');
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${cp.token}`, 'content-type': 'application/json', accept: 'application/json' };
    if (payload) headers['content-length'] = payload.length;
    const req = httpsRequest(new URL(path, cp.server), { method, ca: cp.caPem, headers }, (res) => {
      // Whole buffers: a character's UTF-8 bytes may be split between two chunks.
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const raw = res.headers.warning;
        const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
        // RFC 7234 warn-text: 299 - "message", quotes and backslashes escaped; one header line per warning.
        // Node reads header bytes as latin1; the API server sends UTF-8.
        const utf8 = list.map((w) => Buffer.from(w, 'latin1').toString('utf8'));
        const warnings = utf8.flatMap((w) => [...w.matchAll(/299 - "((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] as string).replace(/\\(.)/g, '$1')));
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // keep the text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed, warnings });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export type Endpoint = { server: string; token: string; caPem: string };

/** What ghostwire said, without the API server's wrapping of a policy's refusal or warning. */
export const ghostwirePart = (message: string): string =>
  message.replace(/^[\s\S]*?ValidatingAdmissionPolicy '[^']*' with binding '[^']*' denied request: /, '').replace(/^Validation failed for ValidatingAdmissionPolicy '[^']*' with binding '[^']*': /, '');

const WARN_PREFIX = `Validation failed for ValidatingAdmissionPolicy '${POLICY_NS}-warn' with binding '${POLICY_NS}-warn': `;

/**
 * What the API server's warning recorder (k8s.io/apiserver, endpoints/filters/warning.go) sends for these texts,
 * as read there: duplicates once; a text the Warning header cannot carry (DEL, C1 controls) dropped; past 4096
 * characters in all, every warning, earlier ones included, cut to 256 characters, and none added once 4096 are
 * written again. The webhook's own bounds keep its warnings under that; the policies' prefixes can pass it.
 */
export function relayedWarnings(texts: readonly string[]): string[] {
  const [TOTAL, ITEM] = [4096, 256];
  const seen = new Set<string>();
  const ordered: string[] = [];
  let out: string[] = [];
  let written = 0;
  let truncating = false;
  const carriable = (t: string) => !/[\u007f-\u009f]/.test(t);
  const cut = (t: string) => [...t].slice(0, ITEM).join('');
  for (const text of texts) {
    if (text === '' || (written >= TOTAL && truncating) || seen.has(text)) continue;
    seen.add(text);
    ordered.push(text);
    const t = truncating ? cut(text) : text;
    if (!carriable(t)) continue;
    if (written + [...t].length <= TOTAL || truncating) {
      written += [...t].length;
      out.push(t);
      continue;
    }
    truncating = true;
    written = 0;
    out = [];
    for (const w of ordered.map(cut).filter(carriable)) {
      written += [...w].length;
      out.push(w);
    }
  }
  return out;
}

/** A template-annotated Deployment in namespace shop. */
export function annotatedDeployment(name: string, annotations: Record<string, string>): Obj {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'shop' },
    // The API server drops empty maps: an empty annotation map is left out, so the webhook's output compares.
    spec: { selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name }, ...(Object.keys(annotations).length ? { annotations } : {}) }, spec: { containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 8080 }] }] } } },
  };
}

/**
 * One object through the API server (dry run) and through the webhook's pipeline; what differs, as sentences.
 * `documented` says how the policy differs on purpose for this object (a tunnel, an IPv4-mapped address): then the
 * policy must refuse, or in warn mode warn, with a message containing it.
 */
export async function compareOne(ep: Endpoint, o: Obj, defaults: Defaults, documented?: string): Promise<string[]> {
  const exp = expected(o, defaults);
  const r = await request(ep, 'POST', `${collectionPath(o)}?dryRun=All`, o);
  const label = `${o.kind} ${JSON.stringify({ ...(o.metadata.annotations ?? {}), ...(templateOf(o)?.metadata?.annotations ?? {}) }).slice(0, 160)}`;
  const refused = r.status >= 300 ? String(r.body?.message ?? JSON.stringify(r.body)) : undefined;
  const out: string[] = [];
  if (documented !== undefined) {
    // Refused in deny mode; in warn mode admitted with the lower layer's value and a warning saying so.
    const said = refused ?? r.warnings.find((w) => w.includes(documented));
    if (!said?.includes(documented)) out.push(`${label}: expected the documented difference ${JSON.stringify(documented)}, got ${refused ?? `an admitted object with warnings ${JSON.stringify(r.warnings)}`}`);
    return out;
  }
  if (exp.denial !== undefined) {
    // Validation runs after the API server generated the name (documented): "pod-x7k2p" where the webhook says "pod-".
    const generated = o.metadata.generateName && !o.metadata.name ? new RegExp(`(/${o.metadata.generateName})[a-z0-9]{5}\\b`) : undefined;
    const said = refused === undefined ? undefined : generated ? ghostwirePart(refused).replace(generated, '$1') : ghostwirePart(refused);
    if (refused === undefined) out.push(`${label}: the webhook refuses (${exp.denial}) but the policy admitted it`);
    else if (said !== exp.denial) out.push(`${label}: refusal differs\n   policy:  ${ghostwirePart(refused)}\n   webhook: ${exp.denial}`);
    return out;
  }
  if (refused !== undefined) return [`${label}: the webhook admits it (${exp.result}) but the policy refused: ${refused}`];
  out.push(...differences(r.body, exp).map((d) => `${label}: ${d}`));
  // Only ghostwire's warnings: the API server adds its own (e.g. fractional memory quantities), as with the webhook.
  const warnings = r.warnings.filter((w) => /ValidatingAdmissionPolicy 'ghostwire-/.test(w)).map(ghostwirePart);
  // The webhook's warnings as the API server relays them when a policy says them (the documented difference).
  const relayed = relayedWarnings(exp.warnings.map((w) => `${WARN_PREFIX}${w}`)).map(ghostwirePart);
  if (JSON.stringify(warnings) !== JSON.stringify(relayed)) out.push(`${label}: warnings differ (status ${r.status}, ${r.warnings.length} raw)\n   policy:  ${JSON.stringify(warnings)}\n   webhook: ${JSON.stringify(relayed)}`);
  return out;
}
