// A pod's network namespace for route tests against the real API server: ghostwire init and watch run in it with a
// ServiceAccount token (the RBAC is the test's to grant), the API server is bridged in, and the traffic tool
// (test/helpers/traffic-tool.ts) serves ClusterIP-like addresses on its lo and runs clients whose answers are
// collected.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { CLI, repoPath } from '../helpers/paths.js';
import { createNetns, waitForLine, type Netns } from '../helpers/netns.js';
import type { Answer } from '../helpers/route-oracle.js';
import { type ControlPlane, waitFor } from './harness.js';

const TRAFFIC_TOOL = repoPath('dist', 'test', 'helpers', 'traffic-tool.js');

export interface PortSpec {
  port: number;
  protocol: 'TCP' | 'UDP';
}

export interface WatcherRun {
  child: ChildProcess;
  /** Everything it wrote so far. */
  log(): string;
  /** The last log lines as "<ms since since> <message>", for failure messages. */
  timeline(since: number, lines?: number): string;
  stop(): void;
}

export interface PodNetns {
  ns: Netns;
  dir: string;
  env: NodeJS.ProcessEnv;
  answers: Answer[];
  /** Adds the address to lo and answers "<name>@<ip>" on every port. */
  serve(name: string, ip: string, ports: readonly PortSpec[]): void;
  /** Long-lived, new and UDP clients of `dest` at `ip` (traffic-tool "clients"). */
  clients(dest: string, ip: string, ports: readonly PortSpec[], everyMs: number): void;
  stopClients(): void;
  init(): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Starts the watcher and waits until both watches are established. */
  watch(extraArgs?: readonly string[]): Promise<WatcherRun>;
  destroy(): Promise<void>;
}

/** The chart's RBAC for injected pods (helm template), bound to `serviceAccount` in `namespace`. */
export async function grantInjectedRbac(cp: ControlPlane, namespace: string, serviceAccount: string): Promise<void> {
  const rendered = await cp.helm(['template', 'gw', repoPath('charts', 'ghostwire'), '--namespace', 'ghostwire', '--set', `injectedNamespaces[0]=${namespace}`, '--set', `injectedServiceAccounts={${serviceAccount}}`, '--show-only', 'templates/injected-rbac.yaml']);
  await cp.kubectl(['apply', '-f', '-'], { input: rendered.stdout });
  const user = `system:serviceaccount:${namespace}:${serviceAccount}`;
  await waitFor('the injected-pod RoleBinding in effect', 10_000, async () => (await cp.kubectl(['auth', 'can-i', 'watch', 'services', '-n', namespace, `--as=${user}`], { allowFail: true })).stdout.trim() === 'yes', 100);
}

/**
 * `podName` is whose role the programs follow (POD_NAME). The API server address the kubeconfig names is bridged
 * into the namespace on the same port. The cluster DNS address of the pod's resolv.conf (excluded from the chain) is
 * kept out of the Service range.
 */
export async function startPodNetns(cp: ControlPlane, o: { namespace: string; serviceAccount: string; podName: string; name: string }): Promise<PodNetns> {
  const dir = mkdtempSync(join(tmpdir(), `gw-${o.name}-`));
  const token = (await cp.kubectl(['-n', o.namespace, 'create', 'token', o.serviceAccount, '--duration=1h'])).stdout.trim();
  writeFileSync(join(dir, 'ca.crt'), cp.caPem);
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'e2e', cluster: { server: cp.server, 'certificate-authority': join(dir, 'ca.crt') } }],
    users: [{ name: o.serviceAccount, user: { token } }],
    contexts: [{ name: o.serviceAccount, context: { cluster: 'e2e', user: o.serviceAccount, namespace: o.namespace } }],
    'current-context': o.serviceAccount,
  }), { mode: 0o600 });
  writeFileSync(join(dir, 'resolv.conf'), 'nameserver 10.95.0.10\n');
  const ns = await createNetns(`gw-${o.name}`.slice(0, 14));
  const apiPort = Number(new URL(cp.server).port);
  await ns.bridge({ host: '127.0.0.1', port: apiPort }, { port: apiPort });
  const traffic = ns.spawn(process.execPath, [TRAFFIC_TOOL]);
  await waitForLine(traffic, 'ready');
  const answers: Answer[] = [];
  createInterface({ input: traffic.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const a = JSON.parse(line) as Answer & { ack?: string; serverError?: string };
    if (a.serverError) console.log(`# traffic server error: ${a.serverError}`);
    else if (a.ack === undefined) answers.push(a);
  });
  const send = (cmd: object): void => void traffic.stdin?.write(`${JSON.stringify(cmd)}\n`);
  const env = { PATH: process.env.PATH, KUBECONFIG: kubeconfig, POD_NAMESPACE: o.namespace, POD_NAME: o.podName, GW_IPTABLES_DNAT_MAP: join(dir, 'shared', 'dnat.map') };
  const resolv = ['--resolv-conf', join(dir, 'resolv.conf')];
  const watchers: ChildProcess[] = [];
  return {
    ns,
    dir,
    env,
    answers,
    serve: (name, ip, ports) => send({ op: 'serve', ip, ports, name }),
    clients: (dest, ip, ports, every) => send({ op: 'clients', dest, ip, ports, every }),
    stopClients: () => send({ op: 'stop' }),
    init: () => ns.exec(process.execPath, [CLI, 'init', ...resolv], { env, timeoutMs: 30_000 }),
    watch: async (extraArgs = []) => {
      const child = ns.spawn(process.execPath, [CLI, 'watch', '--listen', '127.0.0.1:0', ...resolv, ...extraArgs], { env });
      watchers.push(child);
      let log = '';
      child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
      await waitFor('watcher watching its Pod and the Services', 20_000, async () => /service watch established/.test(log) && /pod watch established/.test(log));
      return {
        child,
        log: () => log,
        timeline: (since, lines = 40) =>
          log.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { time: string; msg: string })
            .map((l) => `${Date.parse(l.time) - since}ms ${l.msg.slice(0, 160)}`).slice(-lines).join('\n'),
        stop: () => void child.kill('SIGTERM'),
      };
    },
    destroy: async () => {
      for (const w of watchers) w.kill('SIGKILL');
      traffic.stdin?.end();
      await ns.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
