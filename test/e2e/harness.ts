// A real control plane on 127.0.0.1 for end-to-end tests: etcd, kube-apiserver and kube-controller-manager built
// from the Go module proxy by test/e2e/tools/build-tools.sh (cached outside the repo). No kubelet: pods stay
// Pending unless a test sets their status. Everything is torn down by stop(), and killed on process exit.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCA, generateServing } from '../../src/tls/certs.js';
import { repoPath } from '../helpers/paths.js';

export interface Tools {
  KUBE_APISERVER: string;
  KUBE_CONTROLLER_MANAGER: string;
  KUBECTL: string;
  ETCD: string;
  HELM: string;
}

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
  tools: Tools;
  kubectl: (args: string[], opts?: { input?: string; allowFail?: boolean }) => Promise<RunResult>;
  helm: (args: string[], opts?: { allowFail?: boolean }) => Promise<RunResult>;
  /** Raw API call with the admin token (for status subresources and things kubectl makes awkward). */
  api: (method: string, path: string, body?: unknown, contentType?: string) => Promise<{ status: number; body: any }>;
  logs: () => string;
  stop: () => Promise<void>;
}

const cacheDir = () => process.env.GHOSTWIRE_TOOLS_CACHE ?? join(homedir(), '.cache', 'ghostwire-tools');

function readToolsEnv(): Partial<Tools> {
  const file = join(cacheDir(), 'env.sh');
  const out: Record<string, string> = {};
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
      if (m) out[m[1] as string] = (m[2] as string).replace(/^"|"$/g, '');
    }
  }
  return out as Partial<Tools>;
}

/** The cached tools, building them on first use (a cold build takes several minutes and prints progress). */
export function ensureTools(): Tools {
  const names = ['KUBE_APISERVER', 'KUBE_CONTROLLER_MANAGER', 'KUBECTL', 'ETCD', 'HELM'] as const;
  let tools = readToolsEnv();
  if (!names.every((n) => tools[n] && existsSync(tools[n] as string))) {
    process.stderr.write('[e2e] control-plane tools not cached yet: running test/e2e/tools/build-tools.sh\n');
    const r = spawnSync('bash', [repoPath('test', 'e2e', 'tools', 'build-tools.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`test/e2e/tools/build-tools.sh failed (exit ${r.status})`);
    tools = readToolsEnv();
  }
  for (const n of names) if (!tools[n] || !existsSync(tools[n] as string)) throw new Error(`e2e tool ${n} missing after build (${cacheDir()}/env.sh)`);
  return tools as Tools;
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
  const tools = ensureTools();
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
    process.stderr.write(`[e2e] control plane ready in ${Date.now() - started} ms (${server})\n`);
    const env = { ...process.env, KUBECONFIG: kubeconfigPath };
    return {
      server,
      token,
      caPem: ca.certPem,
      dir,
      kubeconfigPath,
      tools,
      kubectl: (args, o = {}) => run(tools.KUBECTL, args, { ...o, env }),
      helm: (args, o = {}) => run(tools.HELM, args, { ...o, env }),
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
