// A pod network for a control plane without kubelets or a CNI: the API server's pod proxy (GET
// /api/v1/namespaces/NS/pods/POD:PORT/proxy/...) connects to a pod's status.podIP, and here it does so through its
// egress selector (kind EgressSelectorConfiguration, egress "cluster", HTTP CONNECT over a unix socket), which is
// the Konnectivity mechanism real clusters use. This process answers the CONNECTs: a podIP:port that a test routed
// is joined to a unix socket (a watcher inside a network namespace listens on one) or to a loopback TCP port (a
// webhook started by the test); anything else is refused with 502. No address outside the loopback range is ever
// dialled: pod IPs exist only in pod statuses.
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';

export type Target = { path: string } | { host: '127.0.0.1'; port: number };

export interface PodNetwork {
  /** kube-apiserver flags that route the pod proxy through this network. */
  apiServerArgs: string[];
  /**
   * Route podIP:port (or every podIP starting with `ipPrefix` on that port, replacing an earlier route and closing
   * the tunnels it had) to a target.
   */
  route(ip: string, port: number, target: Target): void;
  routePrefix(ipPrefix: string, port: number, target: Target): void;
  /** CONNECT requests seen: "ip:port -> routed|refused". */
  readonly seen: string[];
  close(): Promise<void>;
}

export async function startPodNetwork(dir: string): Promise<PodNetwork> {
  mkdirSync(dir, { recursive: true });
  const socketPath = join(dir, 'egress.sock');
  const exact = new Map<string, Target>();
  const prefixes: Array<{ prefix: string; port: number; target: Target }> = [];
  const seen: string[] = [];
  const open = new Set<net.Socket>();
  /** Established tunnels by the podIP:port they reach. */
  const tunnels = new Map<net.Socket, string>();
  const lookup = (hostPort: string): Target | undefined => {
    const at = hostPort.lastIndexOf(':');
    const ip = hostPort.slice(0, at);
    const port = Number(hostPort.slice(at + 1));
    return exact.get(hostPort) ?? prefixes.find((p) => p.port === port && ip.startsWith(p.prefix))?.target;
  };
  const server = net.createServer((conn) => {
    open.add(conn);
    conn.once('close', () => open.delete(conn));
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) {
        if (head.length > 8192) conn.destroy();
        return;
      }
      conn.off('data', onData);
      const m = /^CONNECT (\S+) HTTP\/1\.[01]\r\n/.exec(head);
      const target = m ? lookup(m[1] as string) : undefined;
      seen.push(`${m?.[1] ?? '?'} -> ${target ? 'routed' : 'refused'}`);
      if (!target) {
        conn.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const up = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host);
      let established = false;
      up.once('connect', () => {
        established = true;
        tunnels.set(conn, m?.[1] as string);
        conn.once('close', () => tunnels.delete(conn));
        conn.write('HTTP/1.1 200 Connection established\r\n\r\n');
        const rest = Buffer.from(head.slice(end + 4), 'latin1');
        if (rest.length > 0) up.write(rest);
        conn.pipe(up).pipe(conn);
      });
      const close = (): void => {
        conn.destroy();
        up.destroy();
      };
      up.on('error', (err: NodeJS.ErrnoException) => {
        seen.push(`${m?.[1] ?? '?'} -> upstream ${established ? 'broke' : 'refused'}: ${err.code ?? err.message}`);
        // Before the tunnel exists the CONNECT fails; inside it, the connection just ends (the pod went away).
        if (!established && !conn.destroyed) conn.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
        close();
      });
      conn.on('error', close);
    };
    conn.on('data', onData);
    conn.on('error', () => conn.destroy());
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const config = join(dir, 'egress-selector.yaml');
  writeFileSync(
    config,
    [
      'apiVersion: apiserver.k8s.io/v1beta1',
      'kind: EgressSelectorConfiguration',
      'egressSelections:',
      '- name: cluster',
      '  connection:',
      '    proxyProtocol: HTTPConnect',
      '    transport:',
      '      uds:',
      `        udsName: ${socketPath}`,
      '',
    ].join('\n'),
  );
  return {
    apiServerArgs: [`--egress-selector-config-file=${config}`],
    route: (ip, port, target) => void exact.set(`${ip}:${port}`, target),
    routePrefix: (prefix, port, target) => {
      const at = prefixes.findIndex((p) => p.prefix === prefix && p.port === port);
      if (at >= 0) prefixes.splice(at, 1);
      prefixes.push({ prefix, port, target });
      // The API server keeps idle tunnels to pods; those to the old target are closed so no read goes there.
      for (const [conn, hostPort] of tunnels) if (hostPort.startsWith(prefix) && hostPort.endsWith(`:${port}`)) conn.destroy();
    },
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        // The API server keeps its tunnels open; they end with this network.
        for (const c of open) c.destroy();
        server.close(() => resolve());
      }),
  };
}
