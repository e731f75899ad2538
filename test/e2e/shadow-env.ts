// Shared setup for the shadow controller's end-to-end tests, on a control plane from test/e2e/harness.ts: a namespace,
// a Ready fake Node (its heartbeat kept fresh, so the node lifecycle controller never marks our pods NotReady), the
// real `ghostwire shadow run` binary, and helpers to read what the controller wrote, to play kubelet for the shadow's
// pods and to record watch events (every ADDED/MODIFIED/DELETED with its uid). There is no kubelet: pods only change
// when a test sets their status. Each test stops the controller (env.stop) and the control plane (cp.stop) in t.after.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers/paths.js';
import type { TestContext } from 'node:test';
import { type ControlPlane, startControlPlane, waitFor } from './harness.js';

export const TUNNEL_KEY = 'e2e-tunnel-signing-key-0123456789abcdef';
export const NODE = 'n1';

export interface TunnelStatus {
  phase: string;
  mode?: string;
  endpoint?: string;
  hash?: string;
  reason?: string;
}

/** The API paths of a workload's shadow objects (both modes). */
export function shadowPaths(ns: string, workload: string) {
  const name = `shadow-${workload}`;
  return {
    deployment: `/apis/apps/v1/namespaces/${ns}/deployments/${name}`,
    service: `/api/v1/namespaces/${ns}/services/${name}`,
    ingress: `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses/${name}`,
    policy: `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/${name}`,
    wgConfig: `/api/v1/namespaces/${ns}/configmaps/${name}-wg-config`,
    keys: `/api/v1/namespaces/${ns}/secrets/${name}-wg-keys`,
  };
}

export interface WatchRecord {
  type: string;
  kind: string;
  name: string;
  uid: string;
  resourceVersion: string;
}

/** One watch stream (list path + ?watch=1); records every event for names starting with `namePrefix`. */
export interface Recorder {
  records: WatchRecord[];
  close(): void;
}

export interface ShadowEnv {
  cp: ControlPlane;
  ns: string;
  controllerLog(): string;
  /** Lines of the controller's JSON log, parsed. */
  controllerLines(): Array<Record<string, unknown> & { msg: string }>;
  getJson(path: string): Promise<any>;
  exists(path: string): Promise<boolean>;
  kubectl(args: string[], input?: string): Promise<string>;
  apply(yamlText: string): Promise<string>;
  workload(name: string): Promise<any>;
  status(name: string): Promise<TunnelStatus | undefined>;
  /** Events about the workload, oldest first. */
  events(name: string): Promise<Array<{ reason: string; message: string; type: string }>>;
  /** The shadow's pods that are not terminating, oldest first. */
  shadowPods(name: string, opts?: { includeTerminating?: boolean }): Promise<any[]>;
  /** Play the scheduler: bind a pod to the fake Node. */
  bind(pod: string): Promise<void>;
  /** Play kubelet: Running with this IP; Ready and ContainersReady as given. */
  setPodStatus(pod: string, ip: string, ready: boolean): Promise<void>;
  /** Wait for the next shadow pod of `name` that is not in `exclude`, bind it and set its status. */
  nextShadowPod(name: string, ip: string, ready: boolean, exclude?: string[]): Promise<string>;
  watch(listPath: string, namePrefix: string): Recorder;
  /** Start `ghostwire shadow run`; with defaultsConfigMap, it follows ConfigMap <ns>/ghostwire-defaults (created here). */
  startController(opts?: { defaultsConfigMap?: boolean }): Promise<void>;
  /** Print the controller's log tail (on failure). */
  dump(): void;
  /** Stop the controller, the node heartbeat and the watches (not the control plane). */
  stop(): Promise<void>;
}

const rfc3339 = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export async function shadowEnv(cp: ControlPlane, opts: { ns?: string; defaultsYaml?: string } = {}): Promise<ShadowEnv> {
  const ns = opts.ns ?? 'shop';
  const dir = mkdtempSync(join(tmpdir(), 'gw-shadow-e2e-'));
  let controller: ChildProcess | undefined;
  let log = '';
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  const recorders: Recorder[] = [];

  const stop = async (): Promise<void> => {
    if (heartbeat) clearInterval(heartbeat);
    for (const r of recorders) r.close();
    if (controller && controller.exitCode === null && controller.signalCode === null) {
      const c = controller;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      const kill = setTimeout(() => c.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(kill);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const kubectl = async (args: string[], input?: string): Promise<string> => (await cp.kubectl(args, input === undefined ? {} : { input })).stdout;
  const getJson = async (path: string): Promise<any> => {
    const r = await cp.api('GET', path);
    return r.status === 200 ? r.body : undefined;
  };
  const nodeHeartbeat = async (): Promise<void> => {
    const now = rfc3339();
    await cp.api(
      'PATCH',
      `/api/v1/nodes/${NODE}/status`,
      { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: now, lastTransitionTime: now }] } },
      'application/strategic-merge-patch+json',
    );
  };

  try {
    writeFileSync(join(dir, 'tunnel.key'), `${TUNNEL_KEY}\n`);
    writeFileSync(join(dir, 'config.yaml'), opts.defaultsYaml ?? 'network:\n  wildcardDNS: tunnel.example.com\n  ingressTLS: true\n');
    await kubectl(['create', 'namespace', ns]);
    // A Node that reports Ready, so the EndpointSlice controller accepts pods bound to it.
    await kubectl(['apply', '-f', '-'], `apiVersion: v1\nkind: Node\nmetadata:\n  name: ${NODE}\n`);
    await nodeHeartbeat();
    heartbeat = setInterval(() => void nodeHeartbeat().catch(() => undefined), 10_000);
  } catch (err) {
    await stop();
    throw err;
  }

  const env: ShadowEnv = {
    cp,
    ns,
    controllerLog: () => log,
    controllerLines: () =>
      log
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .flatMap((l) => {
          try {
            return [JSON.parse(l) as Record<string, unknown> & { msg: string }];
          } catch {
            return [];
          }
        }),
    getJson,
    exists: async (path) => (await cp.api('GET', path)).status === 200,
    kubectl,
    apply: (text) => kubectl(['apply', '-f', '-'], text),
    workload: (name) => getJson(`/apis/apps/v1/namespaces/${ns}/deployments/${name}`),
    status: async (name) => {
      const text = (await env.workload(name))?.metadata?.annotations?.['ghostwire.dev/tunnel-status'];
      return text === undefined ? undefined : (JSON.parse(text) as TunnelStatus);
    },
    events: async (name) =>
      ((await getJson(`/api/v1/namespaces/${ns}/events`))?.items ?? [])
        .filter((e: any) => e.involvedObject?.name === name && e.involvedObject?.kind === 'Deployment')
        .sort((a: any, b: any) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion))
        .map((e: any) => ({ reason: e.reason as string, message: e.message as string, type: e.type as string })),
    shadowPods: async (name, o = {}) => {
      const list = await getJson(`/api/v1/namespaces/${ns}/pods?labelSelector=app.kubernetes.io%2Finstance%3Dshadow-${name}`);
      return ((list?.items ?? []) as any[])
        .filter((p) => o.includeTerminating || !p.metadata.deletionTimestamp)
        .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
    },
    bind: async (pod) => {
      const r = await cp.api('POST', `/api/v1/namespaces/${ns}/pods/${pod}/binding`, {
        apiVersion: 'v1',
        kind: 'Binding',
        metadata: { name: pod },
        target: { apiVersion: 'v1', kind: 'Node', name: NODE },
      });
      assert.ok(r.status < 300, `bind ${pod}: ${JSON.stringify(r.body)}`);
    },
    setPodStatus: async (pod, ip, ready) => {
      const now = rfc3339();
      const cond = (type: string, status: boolean) => ({ type, status: status ? 'True' : 'False', lastTransitionTime: now });
      const r = await cp.api(
        'PATCH',
        `/api/v1/namespaces/${ns}/pods/${pod}/status`,
        {
          status: {
            phase: 'Running',
            podIP: ip,
            podIPs: [{ ip }],
            conditions: [cond('PodScheduled', true), cond('Initialized', true), cond('ContainersReady', ready), cond('Ready', ready)],
          },
        },
        'application/strategic-merge-patch+json',
      );
      assert.equal(r.status, 200, `status of ${pod}: ${JSON.stringify(r.body)}`);
    },
    nextShadowPod: async (name, ip, ready, exclude = []) => {
      const pod = await waitFor(`a new shadow pod of ${name}`, 30_000, async () =>
        (await env.shadowPods(name)).find((p) => !exclude.includes(p.metadata.name)),
      );
      const podName = pod.metadata.name as string;
      if (!pod.spec.nodeName) await env.bind(podName);
      await env.setPodStatus(podName, ip, ready);
      return podName;
    },
    watch: (listPath, namePrefix) => {
      const records: WatchRecord[] = [];
      const url = new URL(`${listPath}?watch=1&allowWatchBookmarks=false`, cp.server);
      const req = request(url, { method: 'GET', ca: cp.caPem, headers: { authorization: `Bearer ${cp.token}`, accept: 'application/json' } }, (res) => {
        let buf = '';
        res.on('data', (d: Buffer) => {
          buf += d.toString();
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (!line.trim()) continue;
            const ev = JSON.parse(line) as { type: string; object: any };
            const m = ev.object?.metadata ?? {};
            if (typeof m.name === 'string' && m.name.startsWith(namePrefix)) {
              records.push({ type: ev.type, kind: ev.object.kind, name: m.name, uid: m.uid, resourceVersion: m.resourceVersion });
            }
          }
        });
        res.on('error', () => undefined);
      });
      req.on('error', () => undefined);
      req.end();
      const rec: Recorder = { records, close: () => req.destroy() };
      recorders.push(rec);
      return rec;
    },
    startController: async (o = {}) => {
      let defaultsArgs = ['--defaults', join(dir, 'config.yaml')];
      if (o.defaultsConfigMap) {
        await env.apply(defaultsConfigMap(ns, readFileSync(join(dir, 'config.yaml'), 'utf8')));
        defaultsArgs = ['--defaults-configmap', `${ns}/ghostwire-defaults`];
      }
      controller = spawn(
        process.execPath,
        [CLI, 'shadow', 'run', '--kubeconfig', cp.kubeconfigPath, ...defaultsArgs, '--tunnel-key-file', join(dir, 'tunnel.key')],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      controller.stdout!.on('data', (d: Buffer) => (log += d.toString()));
      controller.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      await waitFor('the controller to watch', 30_000, async () => log.includes('shadow controller watching'));
    },
    dump: () => {
      process.stderr.write(`--- controller log (tail)\n${log.split('\n').slice(-60).join('\n')}\n--- control plane\n${cp.logs()}\n`);
    },
    stop,
  };
  return env;
}

/** A tunnel workload: one container with the given ports (name:port[/UDP]). */
export function tunnelWorkload(ns: string, name: string, annotations: Record<string, string>, ports: string[] = ['http:8080']): string {
  const portList = ports
    .map((p) => {
      const [n, rest] = p.split(':') as [string, string];
      const [num, proto] = rest.split('/');
      return `{containerPort: ${num}, name: ${n}${proto ? `, protocol: ${proto}` : ''}}`;
    })
    .join(', ');
  const ann = Object.entries(annotations)
    .map(([k, v]) => `${k}: "${v}"`)
    .join(', ');
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${name}`,
    `  namespace: ${ns}`,
    `  annotations: {${ann}}`,
    'spec:',
    '  replicas: 1',
    `  selector: {matchLabels: {app: ${name}}}`,
    '  template:',
    `    metadata: {labels: {app: ${name}}}`,
    '    spec:',
    `      containers: [{name: app, image: shop:1, ports: [${portList}]}]`,
    '',
  ].join('\n');
}

/** Bounded check that a condition holds the whole time (the only place these tests sleep on purpose). */
export async function holdsFor(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    assert.ok(await probe(), `expected ${what} to hold for ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(await probe(), `expected ${what} to hold for ${ms} ms`);
}

/**
 * A control plane and a shadow environment for one test, both stopped in t.after even when the test fails.
 * `env` is the same object the test keeps using; `paths` are the API paths of workload `web`'s shadow objects.
 */
export async function startShadowTest(t: TestContext, ns: string): Promise<{ cp: ControlPlane; env: ShadowEnv; paths: ReturnType<typeof shadowPaths> }> {
  const cp = await startControlPlane();
  let env: ShadowEnv | undefined;
  t.after(async () => {
    await env?.stop();
    await cp.stop();
  });
  env = await shadowEnv(cp, { ns });
  return { cp, env, paths: shadowPaths(ns, 'web') };
}

/** The defaults ConfigMap document (`config.yaml`) as YAML for `apply`. */
export function defaultsConfigMap(ns: string, configYaml: string): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ghostwire-defaults, namespace: ${ns}}\ndata:\n  config.yaml: ${JSON.stringify(configYaml)}\n`;
}
