#!/usr/bin/env node
// Runs INSIDE a network namespace: the servers behind ClusterIP-like addresses and the clients of a route-truth run.
// Commands are JSON lines on stdin; every answer a client gets is a JSON line on stdout.
//
//   {"op":"serve","ip","ports":[{"port","protocol"}],"name"}   add the address to lo, answer "<name>@<ip>" on each
//                                                               port (TCP: per line "who"; UDP: per datagram)
//   {"op":"clients","dest","ip","ports":[...],"every":ms}        for destination `dest` (a name) at `ip`: one
//                                                               long-lived TCP connection per TCP port asking every
//                                                               `every` ms (reconnecting at once after an error), one
//                                                               new TCP connection per TCP port every 2*`every` ms, and
//                                                               one connected UDP socket per UDP port asking every
//                                                               `every` ms
//   {"op":"pool","dest","ip","port","connections","every"}      `connections` long-lived TCP connections to one port,
//                                                               each asking every `every` ms (answers carry "conn")
//   {"op":"stop"}                                               stop the clients (servers stay)
// Output: {"t":ms,"dest","port","protocol","kind":"long"|"new"|"udp","answer"} per answer,
//         {"t","dest","port","kind","error"} per failure; "ready" once stdin is read.
import net from 'node:net';
import dgram from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';

type Port = { port: number; protocol: 'TCP' | 'UDP' };
const timers: NodeJS.Timeout[] = [];
const sockets = new Set<{ destroy(): void } | dgram.Socket>();
let stopped = false;

const out = (o: object): void => void process.stdout.write(`${JSON.stringify({ t: Date.now(), ...o })}\n`);

function serve(ip: string, ports: Port[], name: string): void {
  try {
    execFileSync('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo'], { stdio: 'ignore' });
  } catch {
    // already there (a Service recreated with an address used before)
  }
  const answer = `${name}@${ip}`;
  for (const p of ports) {
    if (p.protocol === 'TCP') {
      const server = net.createServer((c) => {
        c.on('error', () => undefined);
        let buf = '';
        c.on('data', (d) => {
          buf += d.toString();
          while (buf.includes('\n')) {
            buf = buf.slice(buf.indexOf('\n') + 1);
            c.write(`${answer}\n`);
          }
        });
      });
      server.on('error', (err) => out({ serverError: `${ip}:${p.port}: ${err.message}` }));
      server.listen(p.port, ip);
    } else {
      const s = dgram.createSocket('udp4');
      s.on('message', (_m, from) => s.send(answer, from.port, from.address));
      s.on('error', (err) => out({ serverError: `${ip}:${p.port}/udp: ${err.message}` }));
      s.bind(p.port, ip);
    }
  }
}

/** A long-lived connection that asks every `every` ms and reconnects at once after a reset. */
function longTcp(dest: string, ip: string, port: number, every: number, conn?: number): void {
  if (stopped) return;
  const c = net.connect(port, ip);
  sockets.add(c);
  let buf = '';
  let timer: NodeJS.Timeout | undefined;
  let done = false;
  const again = (why: string): void => {
    if (done) return;
    done = true;
    clearInterval(timer);
    sockets.delete(c);
    c.destroy();
    out({ dest, port, protocol: 'TCP', kind: 'long', conn, error: why });
    setTimeout(() => longTcp(dest, ip, port, every, conn), 5);
  };
  c.on('connect', () => {
    c.write('who\n');
    timer = setInterval(() => c.write('who\n'), every);
  });
  c.on('data', (d) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      out({ dest, port, protocol: 'TCP', kind: 'long', conn, answer: buf.slice(0, nl) });
      buf = buf.slice(nl + 1);
    }
  });
  c.on('error', (err) => again((err as NodeJS.ErrnoException).code ?? err.message));
  c.on('close', () => again('closed'));
}

function newTcp(dest: string, ip: string, port: number): void {
  const c = net.connect(port, ip);
  sockets.add(c);
  c.setTimeout(2000, () => c.destroy(new Error('timeout')));
  c.on('connect', () => c.write('who\n'));
  c.on('data', (d) => {
    out({ dest, port, protocol: 'TCP', kind: 'new', answer: d.toString().split('\n')[0] });
    c.end();
  });
  c.on('error', (err) => out({ dest, port, protocol: 'TCP', kind: 'new', error: (err as NodeJS.ErrnoException).code ?? err.message }));
  c.on('close', () => sockets.delete(c));
}

function udp(dest: string, ip: string, port: number, every: number): void {
  const s = dgram.createSocket('udp4');
  sockets.add(s);
  s.on('message', (m) => out({ dest, port, protocol: 'UDP', kind: 'udp', answer: m.toString() }));
  s.on('error', (err) => out({ dest, port, protocol: 'UDP', kind: 'udp', error: (err as NodeJS.ErrnoException).code ?? err.message }));
  s.connect(port, ip, () => {
    timers.push(setInterval(() => s.send('who'), every));
  });
}

function clients(dest: string, ip: string, ports: Port[], every: number): void {
  for (const p of ports) {
    if (p.protocol === 'TCP') {
      longTcp(dest, ip, p.port, every);
      timers.push(setInterval(() => newTcp(dest, ip, p.port), every * 2));
    } else {
      udp(dest, ip, p.port, every);
    }
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = JSON.parse(line) as { op: string; ip: string; ports: Port[]; port: number; name: string; dest: string; every?: number; connections?: number };
  if (cmd.op === 'serve') serve(cmd.ip, cmd.ports, cmd.name);
  else if (cmd.op === 'pool') for (let i = 0; i < (cmd.connections ?? 1); i++) longTcp(cmd.dest, cmd.ip, cmd.port, cmd.every ?? 100, i);
  else if (cmd.op === 'clients') clients(cmd.dest, cmd.ip, cmd.ports, cmd.every ?? 100);
  else if (cmd.op === 'stop') {
    stopped = true;
    for (const t of timers) clearInterval(t);
    for (const s of sockets) ('destroy' in s ? s.destroy() : s.close());
  }
  out({ ack: cmd.op });
});
process.stdout.write('ready\n');
