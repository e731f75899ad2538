// Network namespaces for the runtime (and later e2e) tests: create/destroy one, run commands in it, and make a
// server of the root namespace reachable inside it WITHOUT veth pairs or routed private addresses: an in-netns
// process listens on 127.0.0.1:PORT and pipes each connection to a unix socket, which is a filesystem object and so
// crosses namespaces. A TCP server in the root namespace (a real kube-apiserver on 127.0.0.1:6443) is reached the
// same way, with a root-side unix->TCP relay in this process.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { repoPath } from './paths.js';

export const NETNS_TOOL = repoPath('dist', 'test', 'helpers', 'netns-tool.js');

function which(bin: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}

/** Why runtime tests cannot run here, or undefined when they can (root, ip, iptables-restore). */
/** Why tests of connection handling cannot run here (root, iptables, conntrack and ss), or undefined. */
export function routeSkipReason(): string | undefined {
  const has = (tool: string) => ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((d) => existsSync(`${d}/${tool}`));
  return runtimeSkipReason() ?? (has('conntrack') && has('ss') ? undefined : 'conntrack or ss not in PATH (apt-get install -y conntrack iproute2)');
}

export function runtimeSkipReason(opts: { ipv6?: boolean } = {}): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root: network namespaces and iptables need root (run as root or in CI)';
  for (const bin of ['ip', 'iptables-restore', 'iptables-save', 'iptables', ...(opts.ipv6 ? ['ip6tables-restore', 'ip6tables-save'] : [])]) {
    if (!which(bin)) return `${bin} not in PATH (apt-get install -y iptables iproute2)`;
  }
  return undefined;
}

/** "nf_tables" or "legacy", from `iptables --version`. */
export function iptablesBackend(): string {
  const r = spawnSync('iptables', ['--version'], { encoding: 'utf8' });
  return /nf_tables/.test(r.stdout) ? 'nf_tables' : /legacy/.test(r.stdout) ? 'legacy' : r.stdout.trim();
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface Bridge {
  /** Port on 127.0.0.1 inside the namespace. */
  port: number;
  close(): Promise<void>;
}

export interface Agent {
  /** Connect to host:port from inside the namespace; returns what the server answered, or "ERROR <code>". */
  probe(host: string, port: number): Promise<string>;
  http(url: string): Promise<{ status: number; body: string }>;
  close(): void;
}

export interface Netns {
  readonly name: string;
  /** Run a command inside the namespace to completion. */
  exec(cmd: string, args: string[], opts?: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<ExecResult>;
  /** Like exec but throws with stderr on a non-zero exit. */
  run(cmd: string, args: string[], opts?: { env?: NodeJS.ProcessEnv; input?: string }): Promise<string>;
  /** Start a long-running process inside the namespace (killed by destroy()). */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
  /** Start `node netns-tool.js serve ...` and wait until it listens. */
  serve(specs: string[]): Promise<ChildProcess>;
  agent(): Promise<Agent>;
  /** Reach `target` (a unix socket, or TCP in the root namespace) at 127.0.0.1:<port> inside the namespace. */
  bridge(target: { path: string } | { host: string; port: number }, opts?: { port?: number }): Promise<Bridge>;
  destroy(): Promise<void>;
}

function collect(child: ChildProcess, started: number, input?: string): Promise<ExecResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Math.round(performance.now() - started) }));
  });
}

/** Wait for a line starting with `prefix` on the child's stdout; returns that line. */
export function waitForLine(child: ChildProcess, prefix: string | RegExp, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const t = setTimeout(() => {
      rl.close();
      reject(new Error(`no line matching ${String(prefix)} within ${timeoutMs} ms; stderr: ${err.trim()}`));
    }, timeoutMs);
    const onExit = (code: number | null): void => {
      clearTimeout(t);
      reject(new Error(`process exited (${code}) before printing ${String(prefix)}; stderr: ${err.trim()}`));
    };
    child.once('exit', onExit);
    rl.on('line', (line) => {
      if (typeof prefix === 'string' ? line.startsWith(prefix) : prefix.test(line)) {
        clearTimeout(t);
        child.off('exit', onExit);
        rl.close();
        resolve(line);
      }
    });
  });
}

export async function createNetns(prefix = 'gw'): Promise<Netns> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip netns add ${name}: ${r.stderr.trim()}`);
  const children = new Set<ChildProcess>();
  const cleanups: Array<() => Promise<void> | void> = [];
  const tmp = mkdtempSync(join(tmpdir(), `${name}-`));

  const spawnIn = (cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess => {
    const child = spawn('ip', ['netns', 'exec', name, cmd, ...args], { stdio: ['pipe', 'pipe', 'pipe'], ...opts });
    children.add(child);
    child.on('exit', () => children.delete(child));
    return child;
  };

  const ns: Netns = {
    name,
    exec(cmd, args, opts = {}) {
      const started = performance.now();
      const child = spawnIn(cmd, args, { env: opts.env ?? process.env });
      const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
      return collect(child, started, opts.input).finally(() => timer && clearTimeout(timer));
    },
    async run(cmd, args, opts = {}) {
      const res = await ns.exec(cmd, args, opts);
      if (res.code !== 0) throw new Error(`${cmd} ${args.join(' ')} (in ${name}) exited ${res.code}: ${res.stderr.trim()}`);
      return res.stdout;
    },
    spawn: spawnIn,
    async serve(specs) {
      const child = spawnIn(process.execPath, [NETNS_TOOL, 'serve', ...specs]);
      await waitForLine(child, 'ready');
      return child;
    },
    async agent() {
      const child = spawnIn(process.execPath, [NETNS_TOOL, 'agent']);
      await waitForLine(child, 'ready');
      let next = 0;
      const pending = new Map<number, (v: unknown) => void>();
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const msg = JSON.parse(line) as { id: number; result: unknown };
        pending.get(msg.id)?.(msg.result);
        pending.delete(msg.id);
      });
      const call = <T>(cmd: object): Promise<T> =>
        new Promise<T>((resolve) => {
          const id = ++next;
          pending.set(id, resolve as (v: unknown) => void);
          child.stdin?.write(`${JSON.stringify({ id, ...cmd })}\n`);
        });
      return {
        probe: (host, port) => call<string>({ op: 'probe', host, port }),
        http: (url) => call<{ status: number; body: string }>({ op: 'http', url }),
        close: () => {
          child.stdin?.end();
        },
      };
    },
    async bridge(target, opts = {}) {
      let unixPath: string;
      let relay: net.Server | undefined;
      if ('path' in target) {
        unixPath = target.path;
      } else {
        // Root-namespace relay: unix socket -> TCP target.
        unixPath = join(tmp, `relay-${randomBytes(3).toString('hex')}.sock`);
        relay = net.createServer((conn) => {
          const up = net.connect(target.port, target.host);
          conn.pipe(up).pipe(conn);
          const close = (): void => {
            conn.destroy();
            up.destroy();
          };
          conn.on('error', close);
          up.on('error', close);
        });
        await new Promise<void>((r) => (relay as net.Server).listen(unixPath, r));
      }
      const child = spawnIn(process.execPath, [NETNS_TOOL, 'bridge', '--listen', `127.0.0.1:${opts.port ?? 0}`, '--unix', unixPath]);
      const line = await waitForLine(child, 'ready');
      const port = Number(line.split(' ')[1]);
      const close = async (): Promise<void> => {
        child.kill('SIGKILL');
        if (relay) await new Promise<void>((r) => (relay as net.Server).close(() => r()));
      };
      cleanups.push(close);
      return { port, close };
    },
    async destroy() {
      for (const c of cleanups.splice(0)) await c();
      const exits = [...children].map((c) => new Promise<void>((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r()))));
      for (const c of children) c.kill('SIGKILL');
      await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 3000))]);
      spawnSync('ip', ['netns', 'del', name]);
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  try {
    await ns.run('ip', ['link', 'set', 'lo', 'up']);
  } catch (err) {
    await ns.destroy();
    throw err;
  }
  return ns;
}

/** iptables-save -t nat output without what varies between runs (comment lines, packet/byte counters). */
export function stableSave(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/ \[\d+:\d+\]$/, ''))
    .join('\n');
}
