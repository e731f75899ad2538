#!/usr/bin/env node
// Runs INSIDE a network namespace (spawned with `ip netns exec NS node netns-tool.js ...`).
//
//   bridge --listen HOST:PORT --unix PATH   TCP listener piping every connection to a unix socket (unix sockets are
//                                           filesystem objects, so they cross network namespaces)
//   serve ADDR:PORT=NAME ...                TCP servers that answer their NAME and close (who answered?)
//   agent                                   JSON lines on stdin -> answers on stdout: {"id","op":"probe","host","port"}
//                                           connects and returns what the server said; {"id","op":"http","url"} GETs
//   time-exec                               stdin: JSON [{cmd,args,input?}, ...]; runs them one after the other with
//                                           execFile and prints "result {ms, failed, firstError}" (bench timing
//                                           without the `ip netns exec` cost in the loop)
//
// Each mode prints one line starting with "ready" once it is listening.
import net from 'node:net';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { execFile } from 'node:child_process';

function hostPort(text: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  if (!m) throw new Error(`bad HOST:PORT ${text}`);
  return { host: m[1] as string, port: Number(m[2]) };
}

async function bridge(args: string[]): Promise<void> {
  const listen = hostPort(args[args.indexOf('--listen') + 1] as string);
  const unixPath = args[args.indexOf('--unix') + 1] as string;
  const server = net.createServer((conn) => {
    const up = net.connect(unixPath);
    conn.pipe(up).pipe(conn);
    const close = (): void => {
      conn.destroy();
      up.destroy();
    };
    conn.on('error', close);
    up.on('error', close);
  });
  await new Promise<void>((r) => server.listen(listen.port, listen.host, r));
  process.stdout.write(`ready ${(server.address() as net.AddressInfo).port}\n`);
}

async function serve(args: string[]): Promise<void> {
  for (const spec of args) {
    const [addr, name] = spec.split('=') as [string, string];
    const { host, port } = hostPort(addr);
    const server = net.createServer((conn) => {
      conn.on('error', () => undefined);
      conn.end(`${name}\n`);
    });
    await new Promise<void>((r, j) => {
      server.once('error', j);
      server.listen(port, host, r);
    });
  }
  process.stdout.write('ready\n');
}

function probe(host: string, port: number, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve('ERROR timeout');
    }, timeoutMs);
    s.on('data', (d) => (data += d.toString()));
    s.on('end', () => {
      clearTimeout(t);
      resolve(data.trim());
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(t);
      resolve(`ERROR ${e.code ?? e.message}`);
    });
  });
}

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      let body = '';
      res.on('data', (d) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(3000, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: e.message }));
  });
}

async function agent(): Promise<void> {
  const rl = createInterface({ input: process.stdin });
  process.stdout.write('ready\n');
  rl.on('line', (line) => {
    const cmd = JSON.parse(line) as { id: number; op: string; host?: string; port?: number; url?: string };
    const reply = (result: unknown): void => void process.stdout.write(`${JSON.stringify({ id: cmd.id, result })}\n`);
    if (cmd.op === 'probe') void probe(cmd.host as string, cmd.port as number).then(reply);
    else if (cmd.op === 'http') void httpGet(cmd.url as string).then(reply);
    else reply({ error: `unknown op ${cmd.op}` });
  });
  rl.on('close', () => process.exit(0));
}

async function timeExec(): Promise<void> {
  let text = '';
  for await (const chunk of process.stdin) text += (chunk as Buffer).toString();
  const runs = JSON.parse(text) as Array<{ cmd: string; args: string[]; input?: string }>;
  process.stdout.write('ready\n');
  let failed = 0;
  let firstError: string | undefined;
  const started = performance.now();
  for (const r of runs) {
    await new Promise<void>((resolve) => {
      const child = execFile(r.cmd, r.args, (err, _out, stderr) => {
        if (err) {
          failed++;
          firstError ??= `${r.cmd}: ${stderr.trim() || err.message}`;
        }
        resolve();
      });
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(r.input ?? '');
    });
  }
  const ms = performance.now() - started;
  process.stdout.write(`result ${JSON.stringify({ ms, failed, firstError })}\n`);
}

const [mode, ...rest] = process.argv.slice(2);
const modes: Record<string, (a: string[]) => Promise<void>> = { bridge, serve, agent: () => agent(), 'time-exec': () => timeExec() };
const fn = modes[mode ?? ''];
if (!fn) {
  process.stderr.write(`usage: netns-tool.js bridge|serve|agent|time-exec ...\n`);
  process.exit(2);
}
fn(rest).catch((err: Error) => {
  process.stderr.write(`netns-tool ${mode}: ${err.message}\n`);
  process.exit(1);
});
