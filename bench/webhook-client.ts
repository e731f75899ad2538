// The benchmark's side of a webhook server child: start it, post reviews over HTTPS, read its memory from /proc.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { fileURLToPath } from 'node:url';

export interface BenchServer {
  child: ChildProcess;
  pid: number;
  port: number;
  /** A keep-alive agent for clients that reuse connections. */
  agent: Agent;
  stop: () => Promise<void>;
}

/** V8 flags of the server child (BENCH_SERVER_NODE_OPTIONS, e.g. the chart's heap limit); none by default. */
export const serverNodeOptions = (): string => process.env.BENCH_SERVER_NODE_OPTIONS ?? '';

export async function startBenchServer(mode: string): Promise<BenchServer> {
  const env = { ...process.env, NODE_OPTIONS: serverNodeOptions() };
  const child = spawn(process.execPath, [fileURLToPath(new URL('./webhook-server.js', import.meta.url)), mode], { stdio: ['ignore', 'pipe', 'inherit'], env });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.on('exit', (code) => reject(new Error(`${mode} server exited ${code}`)));
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 32, rejectUnauthorized: false });
  return {
    child,
    pid: child.pid as number,
    port,
    agent,
    stop: async () => {
      agent.destroy();
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

export interface Memory {
  rssKb: number;
  /** Pages only this process holds (smaps_rollup Private_Clean + Private_Dirty): the per-replica cost. */
  privateKb: number;
  /** VmHWM: the highest RSS so far. */
  peakKb: number;
}

export function memoryOf(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const field = (text: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return {
    rssKb: field(status, 'VmRSS'),
    privateKb: field(rollup, 'Private_Clean') + field(rollup, 'Private_Dirty'),
    peakKb: field(status, 'VmHWM'),
  };
}

/** The server process's CPU time so far (user + system, microseconds), from its /bench/cpu route. */
export function serverCpuUs(server: BenchServer): Promise<number> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port: server.port, path: '/bench/cpu', rejectUnauthorized: false, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        const u = JSON.parse(text) as NodeJS.CpuUsage;
        resolve(u.user + u.system);
      });
    })
      .on('error', reject)
      .end();
  });
}

/** POST /mutate; the body is counted, not kept (a hostile answer may be large). */
export function postReview(server: BenchServer, body: string, opts: { agent?: Agent } = {}): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.port,
        method: 'POST',
        path: '/mutate',
        rejectUnauthorized: false,
        agent: opts.agent ?? false,
        // A Content-Length, as the API server sends (the webhook's in-flight budget counts it).
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
      },
    );
    // A connection the server closed (status 0) is a figure too, not a reason to stop the benchmark.
    req.on('error', () => resolve({ status: 0, bytes: 0 }));
    req.end(body);
  });
}
