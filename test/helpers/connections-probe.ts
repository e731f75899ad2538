#!/usr/bin/env node
// Runs INSIDE a network namespace: ghostwire's real connection executors (conntrack, ss) on connections this
// process opens itself. One JSON request on stdin, one JSON result on stdout:
//   {"connect":[{"ip","port"}], "holdMs"?, "routes":[Route], "scratchDir", "path"?}
// listens on each address (servers that keep connections open and never write), opens one TCP connection per
// entry, then lists the table
// (conntrack -L), selects with the product's functions, closes the wrong sockets (ss -K) and deletes the entries
// (conntrack -R), and reports what each step saw, and how each connection ended.
import net from 'node:net';
import { createInterface } from 'node:readline';
import { createConntrackExecutor } from '../../src/runtime/connections/conntrack.js';
import { parseConntrackList, resetFilters, wrongSockets } from '../../src/runtime/connections/entries.js';
import { createSocketCloser } from '../../src/runtime/connections/sockets.js';
import type { Route } from '../../src/runtime/routes.js';

interface Request {
  connect: Array<{ ip: string; port: number }>;
  routes: Route[];
  scratchDir: string;
  /** PATH for the executors (to hide a binary). */
  path?: string;
}

async function main(): Promise<void> {
  const line = await new Promise<string>((resolve) => createInterface({ input: process.stdin }).once('line', resolve));
  const req = JSON.parse(line) as Request;
  const ends: string[] = req.connect.map(() => 'open');
  const servers = new Map<string, net.Server>();
  /** How the servers' ends of the connections ended (the old backend must learn of a close). */
  const backendEnds: string[] = [];
  for (const c of req.connect) {
    const key = `${c.ip}:${c.port}`;
    if (servers.has(key)) continue;
    const server = net.createServer((peer) => {
      peer.on('error', (err) => backendEnds.push((err as NodeJS.ErrnoException).code ?? err.message));
      peer.resume();
    });
    await new Promise<void>((resolve) => server.listen(c.port, c.ip, resolve));
    servers.set(key, server);
  }
  const sockets = await Promise.all(req.connect.map((c, i) => new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(c.port, c.ip, () => resolve(s));
    s.on('error', (err) => {
      ends[i] = (err as NodeJS.ErrnoException).code ?? err.message;
      reject(err);
    });
    s.on('close', () => { if (ends[i] === 'open') ends[i] = 'closed'; });
    s.resume();
  })));
  if (req.path !== undefined) process.env.PATH = req.path;
  const conntrack = createConntrackExecutor({ scratchDir: req.scratchDir });
  const closer = createSocketCloser();
  const out: Record<string, unknown> = {};
  try {
    const entries = parseConntrackList(await conntrack.list(4));
    out.listed = entries.filter((e) => e.protocol === 'tcp' && req.connect.some((c) => c.ip === e.origDst && c.port === e.dport));
    const wrong = wrongSockets(entries, req.routes);
    out.wrong = wrong;
    out.closed = await closer.close(wrong);
    const filters = resetFilters(entries, req.routes);
    out.filters = filters.length;
    out.deleted = await conntrack.reset(filters);
    const after = parseConntrackList(await conntrack.list(4));
    out.after = after.filter((e) => e.protocol === 'tcp' && !e.finished && req.routes.some((r) => r.activeIP === e.origDst && r.port === e.dport)).length;
  } catch (err) {
    out.error = `${(err as Error).name}: ${(err as Error).message}`;
  }
  // The application learns of a closed socket at once; give its event loop a moment.
  for (let i = 0; i < 50 && (out.closed as number) > 0 && ends.filter((e) => e !== 'open').length < (out.closed as number); i++) await new Promise((r) => setTimeout(r, 20));
  out.ends = ends;
  out.backendEnds = backendEnds;
  for (const s of sockets) s.destroy();
  for (const server of servers.values()) server.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err: unknown) => {
  process.stdout.write(`${JSON.stringify({ error: String(err) })}\n`);
  process.exitCode = 1;
});
