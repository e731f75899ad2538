// A real control plane on 127.0.0.1 for end-to-end tests: etcd, kube-apiserver and kube-controller-manager built
// from the Go module proxy by test/e2e/tools/build-tools.sh (cached outside the repo). The Kubernetes release is
// test/e2e/tools/versions.env's K8S_VERSION, or GHOSTWIRE_K8S_VERSION (e.g. v1.35.4, the oldest supported). No
// kubelet: pods stay Pending unless a test sets their status (markPodReady). startRollouts() adds the real Argo
// Rollouts controller. Everything is torn down by stop(), and killed on process exit.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCA, generateServing } from '../../src/tls/certs.js';
import { repoPath } from '../helpers/paths.js';
import { readToolsEnv, selectedK8sVersion, toolsEnvFile } from '../helpers/tools.js';

/** The variables build-tools.sh exports in $GHOSTWIRE_TOOLS_CACHE/env-<k8s version>.sh. */
export interface Tools {
  KUBE_APISERVER: string;
  KUBE_CONTROLLER_MANAGER: string;
  KUBECTL: string;
  ETCD: string;
  /** Helm 4, the default helm of the tests. */
  HELM: string;
  HELM3: string;
  HELM4: string;
  ROLLOUTS_CONTROLLER: string;
  /** Directory of the Argo Rollouts CRDs (*-crd.yaml) of the same release as the controller. */
  ROLLOUTS_CRDS: string;
}

const TOOL_NAMES = ['KUBE_APISERVER', 'KUBE_CONTROLLER_MANAGER', 'KUBECTL', 'ETCD', 'HELM', 'HELM3', 'HELM4', 'ROLLOUTS_CONTROLLER', 'ROLLOUTS_CRDS'] as const;

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ControlPlane {
  server: string;
  token: string;
  caPem: string;
  dir: string;
  kubeconfigPath: string;
  /** The Kubernetes release the API server reports (/version gitVersion), e.g. v1.37.2. */
  version: string;
  tools: Tools;
  /** Process ids of the control plane's own processes (for measuring their CPU and memory). */
  pids: { etcd: number; apiserver: number };
  kubectl: (args: string[], opts?: { input?: string; allowFail?: boolean }) => Promise<RunResult>;
  /** helm with this cluster's kubeconfig: Helm 4 unless `major: 3`. */
  helm: (args: string[], opts?: { allowFail?: boolean; major?: 3 | 4 }) => Promise<RunResult>;
  /** Raw API call with the admin token (for status subresources and things kubectl makes awkward). */
  api: (method: string, path: string, body?: unknown, contentType?: string) => Promise<{ status: number; body: any }>;
  logs: () => string;
  stop: () => Promise<void>;
}

/**
 * The cached tools for a Kubernetes release (default: the selected one), building them on first use (a cold build
 * takes several minutes and prints progress).
 */
export function ensureTools(version = selectedK8sVersion()): Tools {
  const file = toolsEnvFile(version);
  const complete = (t: Record<string, string>) => TOOL_NAMES.every((n) => t[n] && existsSync(t[n] as string));
  let tools = readToolsEnv(file);
  if (!complete(tools)) {
    process.stderr.write(`[e2e] tools for Kubernetes ${version} not cached yet: running test/e2e/tools/build-tools.sh\n`);
    const r = spawnSync('bash', [repoPath('test', 'e2e', 'tools', 'build-tools.sh')], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, GHOSTWIRE_K8S_VERSION: version },
    });
    if (r.status !== 0) throw new Error(`test/e2e/tools/build-tools.sh failed (exit ${r.status}) for Kubernetes ${version}`);
    tools = readToolsEnv(file);
  }
  for (const n of TOOL_NAMES) if (!tools[n] || !existsSync(tools[n] as string)) throw new Error(`e2e tool ${n} missing after build (${file})`);
  return tools as unknown as Tools;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function startProcess(bin: string, args: string[], logFile: string): ChildProcess {
  const log = createWriteStream(logFile);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export function run(bin: string, args: string[], opts: { input?: string; allowFail?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const result = { code: code ?? 1, stdout, stderr };
      if (result.code !== 0 && !opts.allowFail) reject(new Error(`${bin.split('/').pop()} ${args.join(' ')} exited ${result.code}: ${stderr.trim() || stdout.trim()}`));
      else resolve(result);
    });
    child.stdin.end(opts.input ?? '');
  });
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

async function httpsJson(server: string, token: string, ca: string, method: string, path: string, body?: unknown, contentType = 'application/json') {
  const { request } = await import('node:https');
  const url = new URL(path, server);
  const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return new Promise<{ status: number; body: any }>((resolve, reject) => {
    // An explicit length: a chunked body on DELETE is not read as DeleteOptions by the API server.
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}`, 'content-type': contentType, accept: 'application/json' };
    if (payload) headers['content-length'] = payload.length;
    const req = request(url, { method, ca, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // keep text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

export interface ControlPlaneOptions {
  /** Start kube-controller-manager (default true; without it nothing creates default ServiceAccounts). */
  controllerManager?: boolean;
  /**
   * Audit policy rules evaluated BEFORE the default ones (create/update/patch at Metadata, nothing else), e.g.
   * `{ level: 'Metadata', userGroups: ['system:serviceaccounts'], omitStages: ['RequestReceived'] }` to record every
   * request a service-account token makes. The log is `${dir}/audit.log`, one JSON event per line.
   */
  auditRules?: Array<Record<string, unknown>>;
  /** Extra kube-apiserver flags, e.g. --egress-selector-config-file (pod-proxy.ts routes the pod proxy with it). */
  apiServerArgs?: string[];
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const expectedVersion = selectedK8sVersion();
  const tools = ensureTools(expectedVersion);
  const dir = mkdtempSync(join(tmpdir(), 'gw-e2e-'));
  const children: ChildProcess[] = [];
  const logFiles: string[] = [];
  const started = Date.now();
  const stop = async () => {
    for (const c of [...children].reverse()) await stopProcess(c);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const token = generateKeyPairSync('ed25519').publicKey.export({ format: 'der', type: 'spki' }).toString('hex').slice(-32);
    const ca = generateCA('ghostwire-e2e-ca', 2);
    const serving = generateServing(ca, { commonName: 'kube-apiserver', dnsNames: ['localhost', 'kubernetes.default.svc'], ips: ['127.0.0.1'], days: 2 });
    const sa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const f = (name: string, content: string) => {
      const p = join(dir, name);
      writeFileSync(p, content, { mode: 0o600 });
      return p;
    };
    const caFile = f('ca.crt', ca.certPem);
    const certFile = f('apiserver.crt', serving.certPem);
    const keyFile = f('apiserver.key', serving.keyPem);
    const saKey = f('sa.key', sa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString());
    const saPub = f('sa.pub', sa.publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const tokens = f('tokens.csv', `${token},admin,admin-uid,"system:masters"\n`);
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfigPath = f(
      'kubeconfig',
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: e2e',
        '  cluster:',
        `    server: ${server}`,
        `    certificate-authority: ${caFile}`,
        'users:',
        '- name: admin',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: e2e',
        '  context: {cluster: e2e, user: admin, namespace: default}',
        'current-context: e2e',
        '',
      ].join('\n'),
    );

    const etcdLog = join(dir, 'etcd.log');
    logFiles.push(etcdLog);
    children.push(
      startProcess(tools.ETCD, [
        '--name=gw-e2e', `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`, `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=gw-e2e=http://127.0.0.1:${etcdPeer}`, '--unsafe-no-fsync', '--log-level=warn',
      ], etcdLog),
    );
    await waitFor('etcd /health', 30_000, async () => {
      const res = await fetch(`http://127.0.0.1:${etcdClient}/health`);
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    });

    const apiLog = join(dir, 'apiserver.log');
    logFiles.push(apiLog);
    children.push(
      startProcess(tools.KUBE_APISERVER, [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`, '--bind-address=127.0.0.1', `--secure-port=${apiPort}`,
        '--advertise-address=127.0.0.1', '--endpoint-reconciler-type=none',
        `--tls-cert-file=${certFile}`, `--tls-private-key-file=${keyFile}`, `--client-ca-file=${caFile}`,
        `--token-auth-file=${tokens}`, '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`, '--service-cluster-ip-range=10.96.0.0/16', '--allow-privileged=true',
        // Audit annotations from the webhook land in this log (scenario checks read it).
        `--audit-log-path=${join(dir, 'audit.log')}`, `--audit-policy-file=${f('audit-policy.yaml', `apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n${(opts.auditRules ?? []).map((r) => `- ${JSON.stringify(r)}\n`).join('')}- level: Metadata\n  verbs: ["create", "update", "patch"]\n- level: None\n`)}`,
        ...(opts.apiServerArgs ?? []),
      ], apiLog),
    );
    const api = (method: string, path: string, body?: unknown, contentType?: string) => httpsJson(server, token, ca.certPem, method, path, body, contentType);
    await waitFor('kube-apiserver /readyz', 120_000, async () => (await api('GET', '/readyz')).status === 200, 250);
    // The suite says which release it proved: the binaries must be the one GHOSTWIRE_K8S_VERSION selected.
    const version = String((await api('GET', '/version')).body?.gitVersion);
    if (version !== expectedVersion) throw new Error(`kube-apiserver reports ${version.slice(0, 40)}, expected ${expectedVersion} (${tools.KUBE_APISERVER})`);

    if (opts.controllerManager !== false) {
      const cmLog = join(dir, 'controller-manager.log');
      logFiles.push(cmLog);
      children.push(
        startProcess(tools.KUBE_CONTROLLER_MANAGER, [
          `--kubeconfig=${kubeconfigPath}`, `--service-account-private-key-file=${saKey}`, `--root-ca-file=${caFile}`,
          '--use-service-account-credentials=false', '--controllers=*', '--leader-elect=false', '--bind-address=127.0.0.1', '--secure-port=0',
        ], cmLog),
      );
      await waitFor('ServiceAccount default/default', 60_000, async () => (await api('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200);
    }
    process.stderr.write(`[e2e] control plane ${version} ready in ${Date.now() - started} ms (${server})\n`);
    const env = { ...process.env, KUBECONFIG: kubeconfigPath };
    return {
      server,
      token,
      caPem: ca.certPem,
      dir,
      kubeconfigPath,
      version,
      tools,
      pids: { etcd: children[0]?.pid as number, apiserver: children[1]?.pid as number },
      kubectl: (args, o = {}) => run(tools.KUBECTL, args, { ...o, env }),
      helm: (args, { major = 4, ...o } = {}) => run(major === 3 ? tools.HELM3 : tools.HELM4, args, { ...o, env }),
      api,
      logs: () => logFiles.map((p) => `--- ${p}\n${existsSync(p) ? readFileSync(p, 'utf8').split('\n').slice(-30).join('\n') : ''}`).join('\n'),
      stop,
    };
  } catch (err) {
    const tail = logFiles.map((p) => (existsSync(p) ? `--- ${p}\n${readFileSync(p, 'utf8').split('\n').slice(-20).join('\n')}` : '')).join('\n');
    await stop();
    throw new Error(`${(err as Error).message}\n${tail}`);
  }
}

// ------------------------------------------------------------------------------------------- pods without a kubelet

export interface PodReadyOptions {
  /** status.podIP (and podIPs) to report; unset by default (no network exists for these pods). */
  podIP?: string;
}

/**
 * Plays kubelet for one pod: phase Running, PodScheduled/Initialized/ContainersReady/Ready True and a running,
 * ready status for every container, written through the status subresource. The ReplicaSet controller then counts
 * the pod as ready and available (minReadySeconds 0), which is what Deployments and Argo Rollouts wait for.
 */
export async function markPodReady(cp: ControlPlane, namespace: string, name: string, opts: PodReadyOptions = {}): Promise<void> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`;
  const pod = await cp.api('GET', path);
  if (pod.status !== 200) throw new Error(`GET pod ${namespace}/${name}: HTTP ${pod.status} ${JSON.stringify(pod.body).slice(0, 200)}`);
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const running = (c: { name: string; image: string }) => ({
    name: c.name, image: c.image, imageID: '', ready: true, started: true, restartCount: 0, state: { running: { startedAt: now } },
  });
  const status: Record<string, unknown> = {
    phase: 'Running',
    startTime: now,
    conditions: ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready'].map((type) => ({ type, status: 'True', lastTransitionTime: now })),
    containerStatuses: (pod.body.spec.containers as Array<{ name: string; image: string }>).map(running),
  };
  if (opts.podIP) Object.assign(status, { podIP: opts.podIP, podIPs: [{ ip: opts.podIP }] });
  const r = await cp.api('PATCH', `${path}/status`, { status }, 'application/merge-patch+json');
  if (r.status !== 200) throw new Error(`marking pod ${namespace}/${name} Ready: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
}

const isReady = (pod: any) => (pod.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True');

/** markPodReady for every pod matching the label selector that is not Ready yet (and not being deleted); returns their names. */
export async function markPodsReady(cp: ControlPlane, namespace: string, selector: string): Promise<string[]> {
  const list = await cp.api('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?labelSelector=${encodeURIComponent(selector)}`);
  if (list.status !== 200) throw new Error(`listing pods ${namespace} ${selector}: HTTP ${list.status}`);
  const names: string[] = [];
  for (const pod of list.body.items) {
    if (isReady(pod) || pod.metadata.deletionTimestamp) continue;
    await markPodReady(cp, namespace, pod.metadata.name);
    names.push(pod.metadata.name);
  }
  return names;
}

// ------------------------------------------------------------------------------------------------- Argo Rollouts

export interface RolloutsController {
  /** The controller's log file (JSON lines at --loglevel info). */
  logFile: string;
  logs: () => string;
  /** The Rollout as stored. */
  get: (namespace: string, name: string) => Promise<any>;
  /** Polls the Rollout until `done(rollout)` is truthy; returns that rollout. The error names `what` and the last status. */
  waitFor: (namespace: string, name: string, what: string, done: (rollout: any) => boolean, timeoutMs?: number) => Promise<any>;
  /**
   * What `kubectl argo rollouts promote` does without --full: clears status.pauseConditions through the status
   * subresource and sets spec.paused=false when it is set.
   */
  promote: (namespace: string, name: string) => Promise<void>;
  /** Marks matching pods Ready (markPodsReady) every intervalMs until the returned function or stop() is called. */
  keepPodsReady: (namespace: string, selector: string, intervalMs?: number) => () => void;
  stop: () => Promise<void>;
}

/**
 * Runs the real Argo Rollouts controller (test/e2e/tools builds it) out of cluster against the control plane, with the
 * admin kubeconfig. Its CRDs are installed with `kubectl create` (apply would store a last-applied annotation over
 * the 256 KiB limit) unless already present. The controller listens on 0.0.0.0 for healthz and metrics (it has no
 * bind-address flag), on free ports. Stop it with stop() before cp.stop().
 */
export async function startRollouts(cp: ControlPlane): Promise<RolloutsController> {
  const crds = readdirSync(cp.tools.ROLLOUTS_CRDS).filter((f) => f.endsWith('-crd.yaml')).sort();
  if (!crds.includes('rollout-crd.yaml')) throw new Error(`no rollout-crd.yaml in ${cp.tools.ROLLOUTS_CRDS}`);
  for (const f of crds) {
    const r = await cp.kubectl(['create', '-f', join(cp.tools.ROLLOUTS_CRDS, f)], { allowFail: true });
    if (r.code !== 0 && !/AlreadyExists|already exists/.test(r.stderr)) throw new Error(`kubectl create -f ${f}: ${r.stderr.trim()}`);
  }
  // Polled here: `kubectl wait --for=condition=Established` fails at once ("accessor error") while a just-created
  // CRD has no status.conditions yet, which these large CRDs sometimes show for a moment.
  for (const crd of ['rollouts', 'analysisruns', 'analysistemplates', 'clusteranalysistemplates', 'experiments']) {
    await waitFor(`CRD ${crd}.argoproj.io Established`, 60_000, async () => {
      const r = await cp.api('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd}.argoproj.io`);
      return r.status === 200 && (r.body.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True');
    }, 200);
  }

  const [healthz, metrics] = [await freePort(), await freePort()];
  const logFile = join(cp.dir, `rollouts-controller-${healthz}.log`);
  const child = startProcess(cp.tools.ROLLOUTS_CONTROLLER, [
    `--kubeconfig=${cp.kubeconfigPath}`, '--leader-elect=false', `--healthzPort=${healthz}`, `--metricsPort=${metrics}`,
    '--loglevel=info', '--logformat=json',
  ], logFile);
  const logs = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const loops = new Set<NodeJS.Timeout>();
  const stop = async () => {
    for (const l of loops) clearInterval(l);
    loops.clear();
    await stopProcess(child);
  };
  try {
    await waitFor('rollouts-controller /healthz', 60_000, async () => {
      if (child.exitCode !== null) throw new Error(`rollouts-controller exited ${child.exitCode}: ${logs().split('\n').slice(-10).join('\n')}`);
      return (await fetch(`http://127.0.0.1:${healthz}/healthz`)).ok;
    }, 250);
  } catch (err) {
    await stop();
    throw err;
  }
  const path = (ns: string, name: string) => `/apis/argoproj.io/v1alpha1/namespaces/${encodeURIComponent(ns)}/rollouts/${encodeURIComponent(name)}`;
  const get = async (ns: string, name: string) => {
    const r = await cp.api('GET', path(ns, name));
    if (r.status !== 200) throw new Error(`GET rollout ${ns}/${name}: HTTP ${r.status}`);
    return r.body;
  };
  return {
    logFile,
    logs,
    get,
    waitFor: async (ns, name, what, done, timeoutMs = 60_000) => {
      let last: any;
      try {
        return await waitFor(`rollout ${ns}/${name}: ${what}`, timeoutMs, async () => {
          last = await get(ns, name);
          return done(last) ? last : undefined;
        }, 250);
      } catch (err) {
        throw new Error(`${(err as Error).message}; last status: ${JSON.stringify(last?.status ?? null).slice(0, 600)}`);
      }
    },
    promote: async (ns, name) => {
      const ro = await get(ns, name);
      if ((ro.status?.pauseConditions ?? []).length > 0) {
        const r = await cp.api('PATCH', `${path(ns, name)}/status`, { status: { pauseConditions: null } }, 'application/merge-patch+json');
        if (r.status !== 200) throw new Error(`promote ${ns}/${name} (status): HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      }
      if (ro.spec?.paused) {
        const r = await cp.api('PATCH', path(ns, name), { spec: { paused: false } }, 'application/merge-patch+json');
        if (r.status !== 200) throw new Error(`promote ${ns}/${name} (spec): HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      }
    },
    keepPodsReady: (ns, selector, intervalMs = 250) => {
      let busy = false;
      const loop = setInterval(() => {
        if (busy) return;
        busy = true;
        // A pod may vanish between list and patch (scale-down): the next round sees the new state.
        markPodsReady(cp, ns, selector).catch(() => undefined).finally(() => (busy = false));
      }, intervalMs);
      loops.add(loop);
      return () => {
        clearInterval(loop);
        loops.delete(loop);
      };
    },
    stop,
  };
}
