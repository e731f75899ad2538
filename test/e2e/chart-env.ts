// The chart installed on a real control plane in url mode (the API server calls a `ghostwire serve` this test runs on
// 127.0.0.1), with helpers to run ghostwire's processes under the ServiceAccounts the chart created: a kubeconfig
// holding a TokenRequest token, so every call they make is authorized by the chart's RBAC or fails.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CLI, repoPath } from '../helpers/paths.js';
import { type ControlPlane, freePort, startControlPlane, waitFor } from './harness.js';

export const GW_NS = 'ghostwire';

export interface Proc {
  child: ChildProcess;
  log: () => string;
  /** SIGTERM, and how long the process took to exit (ms) with its exit code. */
  stop: () => Promise<{ ms: number; code: number | null }>;
}

export interface ChartEnv {
  cp: ControlPlane;
  dir: string;
  port: number;
  yaml: (...docs: unknown[]) => string;
  getJson: (args: string[]) => Promise<any>;
  apply: (...docs: unknown[]) => Promise<void>;
  /** helm install in url mode with these --set values. */
  install: (set: string[]) => Promise<void>;
  /** A kubeconfig authenticating as ServiceAccount ns/name (TokenRequest). */
  kubeconfigFor: (namespace: string, name: string) => Promise<string>;
  /** `ghostwire serve` on the chart's certificate and defaults ConfigMap. */
  startWebhook: (kubeconfig: string, extra?: string[]) => Promise<Proc>;
  /** Any ghostwire command, with its output collected. */
  spawnGhostwire: (args: string[]) => Proc;
  stop: () => Promise<void>;
}

export async function startChartEnv(): Promise<ChartEnv> {
  const cp = await startControlPlane();
  const dir = mkdtempSync(join(tmpdir(), 'gw-e2e-chart-'));
  const port = await freePort();
  const procs: Proc[] = [];
  const yaml = (...docs: unknown[]) => docs.map((d) => stringify(d)).join('---\n');
  const getJson = async (args: string[]) => JSON.parse((await cp.kubectl([...args, '-o', 'json'])).stdout);

  const spawnGhostwire = (args: string[]): Proc => {
    let out = '';
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const proc: Proc = {
      child,
      log: () => out,
      stop: async () => {
        const started = Date.now();
        if (child.exitCode !== null || child.signalCode !== null) return { ms: 0, code: child.exitCode };
        const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
        child.kill('SIGTERM');
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        const code = await exited;
        clearTimeout(kill);
        return { ms: Date.now() - started, code };
      },
    };
    procs.push(proc);
    return proc;
  };

  const env: ChartEnv = {
    cp,
    dir,
    port,
    yaml,
    getJson,
    apply: async (...docs) => {
      await cp.kubectl(['apply', '-f', '-'], { input: yaml(...docs) });
    },
    install: async (set) => {
      await cp.helm([
        'install', 'ghostwire', repoPath('charts', 'ghostwire'), '-n', GW_NS, '--create-namespace',
        ...[`webhook.url=https://127.0.0.1:${port}/mutate`, 'certs.extraIPs={127.0.0.1}', ...set].flatMap((s) => ['--set', s]),
      ]);
      const secret = await getJson(['-n', GW_NS, 'get', 'secret', 'ghostwire-tls']);
      const field = (k: string) => Buffer.from(secret.data[k], 'base64').toString('utf8');
      writeFileSync(join(dir, 'ca.crt'), field('ca.crt'));
      writeFileSync(join(dir, 'tls.key'), field('tls.key'), { mode: 0o600 });
      writeFileSync(join(dir, 'tls.crt'), field('tls.crt'));
      const key = await getJson(['-n', GW_NS, 'get', 'secret', 'ghostwire-tunnel-key']);
      writeFileSync(join(dir, 'tunnel.key'), Buffer.from(key.data.key, 'base64'), { mode: 0o600 });
    },
    kubeconfigFor: async (namespace, name) => {
      const token = (await cp.kubectl(['-n', namespace, 'create', 'token', name, '--duration=1h'])).stdout.trim();
      const path = join(dir, `kubeconfig-${namespace}-${name}`);
      writeFileSync(
        path,
        yaml({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'e2e', cluster: { server: cp.server, 'certificate-authority': join(cp.dir, 'ca.crt') } }],
          users: [{ name, user: { token } }],
          contexts: [{ name: 'sa', context: { cluster: 'e2e', user: name, namespace } }],
          'current-context': 'sa',
        }),
        { mode: 0o600 },
      );
      return path;
    },
    startWebhook: async (kubeconfig, extra = []) => {
      const proc = spawnGhostwire([
        'serve', '--port', String(port), '--host', '127.0.0.1',
        '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'),
        '--defaults-configmap', `${GW_NS}/ghostwire-defaults`, '--namespace', GW_NS, '--tunnel-key-file', join(dir, 'tunnel.key'),
        '--kubeconfig', kubeconfig, '--events', 'on', '--drain-delay', '0', ...extra,
      ]);
      await waitFor('webhook listening', 20_000, async () => proc.log().includes('ghostwire webhook listening'));
      return proc;
    },
    spawnGhostwire,
    stop: async () => {
      for (const p of procs) await p.stop();
      await cp.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return env;
}

/** A Deployment with one container; `templateAnnotations` go on the pod template. */
export function deployment(name: string, ns: string, annotations: Record<string, string> = { 'ghostwire.dev/enabled': 'true' }, templateAnnotations: Record<string, string> = {}, replicas = 1) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, annotations },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, role: 'active' }, annotations: templateAnnotations },
        spec: { containers: [{ name: 'app', image: 'app:1', ports: [{ containerPort: 8080, name: 'http' }] }] },
      },
    },
  };
}
