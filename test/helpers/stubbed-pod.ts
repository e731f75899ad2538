// A pod as the runtime tests need it: a fresh network namespace with the "ClusterIPs" bound on its loopback and
// real TCP servers behind them, an agent inside it, and the stub API server reached through a unix-socket bridge,
// with the environment the injected containers get (kubeconfig instead of service-account files).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKubeStub, type KubeStub, type KubeStubOptions } from './kube-stub.js';
import { createNetns, type Agent, type Netns } from './netns.js';

export interface StubbedPod {
  dir: string;
  ns: Netns;
  stub: KubeStub;
  agent: Agent;
  /** PATH, KUBECONFIG, POD_NAMESPACE, POD_NAME, GW_IPTABLES_DNAT_MAP and XTABLES_LOCKFILE under dir, plus the caller's. */
  env: NodeJS.ProcessEnv;
  /** A resolv.conf naming 10.96.0.10, for `--resolv-conf`. */
  resolvConf: string;
  close: () => Promise<void>;
}

export interface StubbedPodOptions {
  /** Prefix of the namespace and temp directory names. */
  name: string;
  /** Addresses bound on lo (IPv6 ones with nodad). */
  addresses?: string[];
  /** `ns.serve` specs: "10.96.0.20:80=orders" answers "orders". */
  backends?: string[];
  stub?: Omit<KubeStubOptions, 'listen'>;
  /** Added to (or, with undefined values, removed from) the base env. */
  env?: NodeJS.ProcessEnv;
}

export async function startStubbedPod(opts: StubbedPodOptions): Promise<StubbedPod> {
  const dir = mkdtempSync(join(tmpdir(), `${opts.name}-`));
  const parts: Partial<StubbedPod> = { dir };
  const close = async () => {
    parts.agent?.close();
    await parts.ns?.destroy();
    await parts.stub?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ns = (parts.ns = await createNetns(opts.name));
    for (const a of opts.addresses ?? []) {
      await ns.run('ip', a.includes(':') ? ['-6', 'addr', 'add', `${a}/128`, 'dev', 'lo', 'nodad'] : ['addr', 'add', `${a}/32`, 'dev', 'lo']);
    }
    if (opts.backends?.length) await ns.serve(opts.backends);
    const agent = (parts.agent = await ns.agent());
    const stub = (parts.stub = await startKubeStub({ ...opts.stub, listen: { path: join(dir, 'api.sock') } }));
    const bridge = await ns.bridge({ path: join(dir, 'api.sock') });
    const resolvConf = join(dir, 'resolv.conf');
    writeFileSync(resolvConf, 'nameserver 10.96.0.10\n');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      KUBECONFIG: stub.writeKubeconfig(dir, { server: `https://127.0.0.1:${bridge.port}` }),
      POD_NAMESPACE: stub.namespace,
      POD_NAME: stub.podName,
      GW_IPTABLES_DNAT_MAP: join(dir, 'shared', 'dnat.map'),
      // As in the injected containers: a lock of this pod's own, not the host's /run/xtables.lock.
      XTABLES_LOCKFILE: join(dir, 'xtables.lock'),
      ...opts.env,
    };
    return { dir, ns, stub, agent, env, resolvConf, close };
  } catch (err) {
    await close();
    throw err;
  }
}
