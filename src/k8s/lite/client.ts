// A small Kubernetes API client for the in-pod programs (init, watch): list Services, get one Pod, watch one Pod.
//
// Why not @kubernetes/client-node here: importing it costs 0.6-0.9 s and ~60 MB more resident memory per process,
// multiplied by every injected pod (see docs/runtime.md). Why node:https rather than fetch: Node 20's fetch cannot
// take a custom CA or client certificate without undici's Agent, which is not a dependency.
import http from 'node:http';
import https from 'node:https';
import type { ClusterAccess } from './credentials.js';
import { ApiError, type PodLike, type ServiceObject, type WatchOptions, statusFrom } from './objects.js';
import { WatchStreamParser } from './watch-stream.js';

export interface ClientOptions {
  /** Per-request timeout for non-watch requests. */
  timeoutMs?: number;
  userAgent?: string;
  /** Largest accepted response body (lists). */
  maxBodyBytes?: number;
  /** Called for each request (tests and metrics): method-less path, e.g. "/api/v1/namespaces/x/pods/y". */
  onRequest?: (path: string) => void;
}

export class LiteClient {
  private readonly agent: http.Agent;
  private readonly isHttps: boolean;
  private readonly timeoutMs: number;
  private readonly maxBody: number;

  constructor(
    readonly access: ClusterAccess,
    private readonly opts: ClientOptions = {},
  ) {
    this.isHttps = access.server.protocol === 'https:';
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxBody = opts.maxBodyBytes ?? 256 * 1024 * 1024;
    const agentOpts: https.AgentOptions = { keepAlive: true, maxSockets: 4 };
    if (this.isHttps) {
      if (access.ca) agentOpts.ca = access.ca;
      if (access.cert) agentOpts.cert = access.cert;
      if (access.key) agentOpts.key = access.key;
      agentOpts.rejectUnauthorized = !access.insecureSkipTLSVerify;
      if (access.tlsServerName) agentOpts.servername = access.tlsServerName;
    }
    this.agent = this.isHttps ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
  }

  /** Release pooled connections (init must call it, or keep-alive sockets hold the process open). */
  close(): void {
    this.agent.destroy();
  }

  private requestOptions(path: string): http.RequestOptions {
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': this.opts.userAgent ?? 'ghostwire' };
    const token = this.access.token?.();
    if (token) headers.Authorization = `Bearer ${token}`;
    const u = this.access.server;
    const basePath = u.pathname.replace(/\/+$/, '');
    return {
      method: 'GET',
      protocol: u.protocol,
      hostname: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port || (this.isHttps ? 443 : 80),
      path: basePath + path,
      headers,
      agent: this.agent,
    };
  }

  private send(path: string, signal?: AbortSignal): Promise<http.IncomingMessage> {
    this.opts.onRequest?.(path);
    return new Promise((resolvePromise, reject) => {
      let options: http.RequestOptions;
      try {
        options = this.requestOptions(path);
      } catch (err) {
        reject(err);
        return;
      }
      if (signal) options.signal = signal;
      const req = (this.isHttps ? https : http).request(options, resolvePromise);
      req.on('error', (err) => reject(this.describe(err, path)));
      req.end();
    });
  }

  private describe(err: Error, path: string): Error {
    if (err.name === 'AbortError') return err;
    const code = (err as NodeJS.ErrnoException).code;
    return new Error(`GET ${path}: ${this.access.server.host}: ${err.message}${code && !err.message.includes(code) ? ` (${code})` : ''}`);
  }

  private async readBody(res: http.IncomingMessage, path: string): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res) {
      size += (chunk as Buffer).length;
      if (size > this.maxBody) {
        res.destroy();
        throw new Error(`GET ${path}: response larger than ${this.maxBody} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** GET a JSON document; non-2xx answers become ApiError with the Status message. */
  async getJSON<T>(path: string, signal?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: http.IncomingMessage;
    let body: string;
    try {
      res = await this.send(path, combined);
      body = await this.readBody(res, path);
    } catch (err) {
      if (timeout.aborted && !signal?.aborted) throw new Error(`GET ${path}: no answer within ${this.timeoutMs} ms`);
      throw err;
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      const s = statusFrom(body);
      throw new ApiError(status, s.reason, s.message, path);
    }
    try {
      return JSON.parse(body) as T;
    } catch {
      throw new Error(`GET ${path}: answer is not JSON`);
    }
  }

  /** All Services of a namespace (paged by 500; an expired continue token restarts the list once). */
  async listServices(namespace: string, signal?: AbortSignal): Promise<ServiceObject[]> {
    const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services`;
    for (let attempt = 0; ; attempt++) {
      const items: ServiceObject[] = [];
      let cont: string | undefined;
      try {
        do {
          const q = new URLSearchParams({ limit: '500' });
          if (cont) q.set('continue', cont);
          const list = await this.getJSON<{ items?: ServiceObject[]; metadata?: { continue?: string } }>(`${base}?${q}`, signal);
          items.push(...(list.items ?? []));
          cont = list.metadata?.continue || undefined;
        } while (cont);
        return items;
      } catch (err) {
        if (err instanceof ApiError && err.status === 410 && cont && attempt === 0) continue;
        throw err;
      }
    }
  }

  getPod(namespace: string, name: string, signal?: AbortSignal): Promise<PodLike> {
    return this.getJSON<PodLike>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`, signal);
  }

  /**
   * Watch one Pod by name. Resolves when the server ends the stream (its timeout: re-watch from the last
   * resourceVersion); rejects with ApiError on an HTTP error or an ERROR event (410 Gone: re-list), or with the
   * transport error. Events are delivered in order, synchronously, as lines arrive.
   */
  watchPod(namespace: string, name: string, opts: WatchOptions<PodLike>): Promise<{ events: number }> {
    const q = new URLSearchParams({ watch: '1', fieldSelector: `metadata.name=${name}`, allowWatchBookmarks: 'true' });
    if (opts.resourceVersion) q.set('resourceVersion', opts.resourceVersion);
    if (opts.timeoutSeconds) q.set('timeoutSeconds', String(opts.timeoutSeconds));
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods?${q}`;
    return this.watch(path, opts);
  }

  /** One watch request: events until the server ends the stream (resolves) or something fails (rejects). */
  private watch<T>(path: string, opts: WatchOptions<T>): Promise<{ events: number }> {
    return new Promise<{ events: number }>((resolvePromise, reject) => {
      let settled = false;
      let idle: NodeJS.Timeout | undefined;
      let res: http.IncomingMessage | undefined;
      const ac = new AbortController();
      const parser = new WatchStreamParser<T>(path, opts.onEvent);
      const onAbort = (): void => ac.abort(opts.signal?.reason);
      const done = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(idle);
        opts.signal?.removeEventListener('abort', onAbort);
        if (!err) return resolvePromise({ events: parser.events });
        res?.destroy();
        reject(opts.signal?.aborted && err.name !== 'AbortError' ? Object.assign(new Error(`watch ${path}: aborted`), { name: 'AbortError' }) : err);
      };
      if (opts.signal?.aborted) ac.abort();
      else opts.signal?.addEventListener('abort', onAbort, { once: true });
      const armIdle = (): void => {
        if (!opts.idleTimeoutMs) return;
        clearTimeout(idle);
        idle = setTimeout(() => {
          const e = new Error(`watch ${path}: nothing received for ${opts.idleTimeoutMs} ms`);
          ac.abort(e);
          done(e);
        }, opts.idleTimeoutMs);
        idle.unref();
      };
      armIdle();
      this.send(path, ac.signal).then(async (response) => {
        res = response;
        const status = response.statusCode ?? 0;
        if (status !== 200) {
          const s = statusFrom(await this.readBody(response, path).catch(() => ''));
          return done(new ApiError(status, s.reason, s.message, path));
        }
        opts.onOpen?.();
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          if (settled) return;
          armIdle();
          const error = parser.push(chunk);
          if (error) done(error);
        });
        response.on('end', () => done());
        response.on('error', (err) => done(this.describe(err, path)));
        response.on('close', () => done(new Error(`watch ${path}: connection closed before the stream ended`)));
      }, (err: Error) => done(err));
    });
  }
}
