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

  private requestOptions(path: string, method: string, contentType?: string): http.RequestOptions {
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': this.opts.userAgent ?? 'ghostwire' };
    if (contentType) headers['Content-Type'] = contentType;
    const token = this.access.token?.();
    if (token) headers.Authorization = `Bearer ${token}`;
    const u = this.access.server;
    const basePath = u.pathname.replace(/\/+$/, '');
    return {
      method,
      protocol: u.protocol,
      hostname: u.hostname.replace(/^\[|\]$/g, ''),
      port: u.port || (this.isHttps ? 443 : 80),
      path: basePath + path,
      headers,
      agent: this.agent,
    };
  }

  private send(path: string, signal?: AbortSignal, method = 'GET', body?: { text: string; contentType: string }): Promise<http.IncomingMessage> {
    this.opts.onRequest?.(path);
    return new Promise((resolvePromise, reject) => {
      let options: http.RequestOptions;
      try {
        options = this.requestOptions(path, method, body?.contentType);
      } catch (err) {
        reject(err);
        return;
      }
      if (signal) options.signal = signal;
      const req = (this.isHttps ? https : http).request(options, resolvePromise);
      req.on('error', (err) => reject(this.describe(err, path, method)));
      req.end(body?.text);
    });
  }

  private describe(err: Error, path: string, method = 'GET'): Error {
    if (err.name === 'AbortError') return err;
    const code = (err as NodeJS.ErrnoException).code;
    return new Error(`${method} ${path}: ${this.access.server.host}: ${err.message}${code && !err.message.includes(code) ? ` (${code})` : ''}`);
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

  /** One request with a JSON answer; non-2xx answers become ApiError with the Status message. */
  async requestJSON<T>(method: string, path: string, opts: { signal?: AbortSignal; body?: unknown; contentType?: string } = {}): Promise<T> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const payload = opts.body === undefined ? undefined : { text: JSON.stringify(opts.body), contentType: opts.contentType ?? 'application/json' };
    let res: http.IncomingMessage;
    let body: string;
    try {
      res = await this.send(path, combined, method, payload);
      body = await this.readBody(res, path);
    } catch (err) {
      if (timeout.aborted && !opts.signal?.aborted) throw new Error(`${method} ${path}: no answer within ${this.timeoutMs} ms`);
      throw err;
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      const s = statusFrom(body);
      throw new ApiError(status, s.reason, s.message, path, method);
    }
    try {
      return JSON.parse(body) as T;
    } catch {
      throw new Error(`${method} ${path}: answer is not JSON`);
    }
  }

  getJSON<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.requestJSON<T>('GET', path, signal ? { signal } : {});
  }

  /**
   * All Services of a namespace and the list's resourceVersion, from which a watch continues (paged by 500; an
   * expired continue token restarts the list once).
   */
  async listServicesAt(namespace: string, signal?: AbortSignal): Promise<{ items: ServiceObject[]; resourceVersion: string | undefined }> {
    const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/services`;
    for (let attempt = 0; ; attempt++) {
      const items: ServiceObject[] = [];
      let cont: string | undefined;
      let resourceVersion: string | undefined;
      try {
        do {
          const q = new URLSearchParams({ limit: '500' });
          if (cont) q.set('continue', cont);
          const list = await this.getJSON<{ items?: ServiceObject[]; metadata?: { continue?: string; resourceVersion?: string } }>(`${base}?${q}`, signal);
          items.push(...(list.items ?? []));
          resourceVersion ??= list.metadata?.resourceVersion;
          cont = list.metadata?.continue || undefined;
        } while (cont);
        return { items, resourceVersion };
      } catch (err) {
        if (err instanceof ApiError && err.status === 410 && cont && attempt === 0) continue;
        throw err;
      }
    }
  }

  async listServices(namespace: string, signal?: AbortSignal): Promise<ServiceObject[]> {
    return (await this.listServicesAt(namespace, signal)).items;
  }

  /** Watch every Service of a namespace (see watchPod). */
  watchServices(namespace: string, opts: WatchOptions<ServiceObject>): Promise<{ events: number }> {
    const q = new URLSearchParams({ watch: '1', allowWatchBookmarks: 'true' });
    if (opts.resourceVersion) q.set('resourceVersion', opts.resourceVersion);
    if (opts.timeoutSeconds) q.set('timeoutSeconds', String(opts.timeoutSeconds));
    return this.watch(`/api/v1/namespaces/${encodeURIComponent(namespace)}/services?${q}`, opts);
  }

  /** Create an Event (core/v1) in its namespace; returns it as stored (name, resourceVersion). */
  createEvent<T extends { metadata: { namespace: string } }>(event: T, signal?: AbortSignal): Promise<T & { metadata: { name: string } }> {
    return this.requestJSON('POST', `/api/v1/namespaces/${encodeURIComponent(event.metadata.namespace)}/events`, { body: event, ...(signal ? { signal } : {}) });
  }

  /** JSON merge patch of an Event (count, lastTimestamp, message of an aggregated Event). */
  patchEvent(namespace: string, name: string, patch: unknown, signal?: AbortSignal): Promise<unknown> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/events/${encodeURIComponent(name)}`;
    return this.requestJSON('PATCH', path, { body: patch, contentType: 'application/merge-patch+json', ...(signal ? { signal } : {}) });
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
