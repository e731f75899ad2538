// The reads of `ghostwire status`, with the user's kubeconfig through @kubernetes/client-node (which applies its
// credentials: tokens, client certificates, exec plugins): paginated lists, gets, and the API server's pod proxy
// for a watcher's /metrics. Requests go out over one keep-alive agent with a timeout and a size cap each: a pod's
// answer comes from the pod, so it is bounded like any untrusted input. Errors never carry bodies or headers.
import { existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../kube/objects.js';

export class ApiReadError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    /** A quick failure worth one more try: 502, 503 or a broken connection (not a timeout, not an answer too large). */
    readonly transient = false,
  ) {
    super(message);
  }
}

export interface StatusClientOptions {
  kubeconfig?: string | undefined;
  context?: string | undefined;
  /** Requests in flight at most (the agent's socket pool). */
  concurrency: number;
  timeoutMs: number;
}

const LIST_PAGE = 500;
const MAX_LIST_BYTES = 64 * 1024 * 1024;
const MAX_PROXY_BYTES = 4 * 1024 * 1024;

/** "HTTP 403 Forbidden: pods is forbidden: ..." from a Status body, clipped; never the body as such. */
function statusMessage(code: number, text: string): string {
  try {
    const s = JSON.parse(text) as { reason?: unknown; message?: unknown };
    const reason = typeof s.reason === 'string' ? ` ${s.reason}` : '';
    const message = typeof s.message === 'string' ? `: ${s.message.slice(0, 300)}` : '';
    return `HTTP ${code}${reason}${message}`;
  } catch {
    return `HTTP ${code}`;
  }
}

export class StatusClient {
  private agent: http.Agent | undefined;
  private readonly server: URL;
  private readonly proxied: boolean;

  private constructor(
    private readonly kc: KubeConfig,
    private readonly o: StatusClientOptions,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('no Kubernetes cluster configured (no kubeconfig found, or its current context names no cluster)');
    this.server = new URL(cluster.server);
    // With a proxy-url the library's own agent (which speaks to the proxy) is used as is.
    this.proxied = Boolean(cluster.proxyUrl);
  }

  /**
   * One keep-alive agent with the kubeconfig's TLS material (CA, client certificate, server name), so hundreds of
   * reads share a few connections; credentials (headers) are applied per request, as tokens may be refreshed.
   */
  private keepAliveAgent(tls: https.RequestOptions): http.Agent {
    if (!this.agent) {
      const common = { keepAlive: true, maxSockets: Math.max(1, this.o.concurrency) };
      this.agent =
        this.server.protocol === 'http:'
          ? new http.Agent(common)
          : new https.Agent({ ...common, ca: tls.ca, cert: tls.cert, key: tls.key, servername: tls.servername, ...(tls.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}) });
    }
    return this.agent;
  }

  static create(o: StatusClientOptions): StatusClient {
    const kc = new KubeConfig();
    const files = o.kubeconfig ?? process.env.KUBECONFIG;
    // Without any configuration the library would fall back to http://localhost:8080: say what is missing instead.
    if (!files && !process.env.KUBERNETES_SERVICE_HOST && !existsSync(join(homedir(), '.kube', 'config'))) {
      throw new ApiReadError('no Kubernetes cluster configured: no --kubeconfig, $KUBECONFIG or ~/.kube/config, and not in a pod');
    }
    try {
      if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
      else kc.loadFromDefault();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ApiReadError(`cannot read the kubeconfig ${(o.kubeconfig ?? files ?? '').slice(0, 200)}: ${code ?? (err as Error).message.split('\n')[0]}`);
    }
    if (o.context !== undefined) {
      if (!kc.getContexts().some((c) => c.name === o.context)) throw new ApiReadError(`--context: ${JSON.stringify(o.context.slice(0, 80))} is not a context of the kubeconfig`);
      kc.setCurrentContext(o.context);
    }
    return new StatusClient(kc, o);
  }

  /** The namespace of the current context (kubectl's default), else "default". */
  defaultNamespace(): string {
    return this.kc.getContextObject(this.kc.getCurrentContext())?.namespace || 'default';
  }

  get serverUrl(): string {
    return this.server.origin;
  }

  close(): void {
    this.agent?.destroy();
  }

  /** Every item of a list, page by page. */
  async list(path: string, labelSelector?: string): Promise<KubeObject[]> {
    const items: KubeObject[] = [];
    let token: string | undefined;
    do {
      const q = new URLSearchParams({ limit: String(LIST_PAGE) });
      if (labelSelector) q.set('labelSelector', labelSelector);
      if (token) q.set('continue', token);
      const page = JSON.parse(await this.request(`${path}?${q}`, MAX_LIST_BYTES)) as { items?: KubeObject[]; metadata?: { continue?: string } };
      items.push(...(Array.isArray(page.items) ? page.items : []));
      token = page.metadata?.continue || undefined;
    } while (token);
    return items;
  }

  /** One object, or undefined when it does not exist. */
  async get(path: string): Promise<KubeObject | undefined> {
    try {
      return JSON.parse(await this.request(path, MAX_LIST_BYTES)) as KubeObject;
    } catch (err) {
      if (err instanceof ApiReadError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** GET through the API server's pod proxy: /api/v1/namespaces/NS/pods/[SCHEME:]POD:PORT/proxy/PATH. */
  proxy(namespace: string, pod: string, port: number, path: string, scheme: 'http' | 'https' = 'http'): Promise<string> {
    const target = `${scheme === 'https' ? 'https:' : ''}${pod}:${port}`;
    return this.request(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(target)}/proxy${path}`, MAX_PROXY_BYTES, 'text/plain');
  }

  private async request(path: string, maxBytes: number, accept = 'application/json'): Promise<string> {
    const url = new URL(path, this.server);
    const opts: https.RequestOptions = {
      protocol: url.protocol,
      hostname: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: { accept, 'user-agent': 'ghostwire-status' },
    };
    await this.kc.applyToHTTPSOptions(opts);
    if (!this.proxied) opts.agent = this.keepAliveAgent(opts);
    const mod = url.protocol === 'http:' ? http : https;
    return new Promise<string>((resolve, reject) => {
      let statusOf = (): number | undefined => undefined;
      const req = mod.request(opts, (res) => {
        statusOf = () => res.statusCode;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) req.destroy(new ApiReadError(`GET ${url.pathname}: the answer exceeds ${maxBytes} bytes`, statusOf()));
          else chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) resolve(text);
          else reject(new ApiReadError(statusMessage(code, text), code, code === 502 || code === 503));
        });
        res.on('error', reject);
      });
      req.setTimeout(this.o.timeoutMs, () => req.destroy(new ApiReadError(`GET ${url.pathname}: no answer within ${this.o.timeoutMs} ms`)));
      req.on('error', (err) => reject(err instanceof ApiReadError ? err : new ApiReadError(`GET ${url.pathname}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, undefined, true)));
      req.end();
    });
  }
}
