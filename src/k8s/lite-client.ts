// A small Kubernetes API client for the in-pod programs (init, watch): list Services, get one Pod, watch one Pod.
//
// Why not @kubernetes/client-node here: importing it costs 0.6-0.9 s and ~60 MB more resident memory per process,
// multiplied by every injected pod (see docs/runtime.md). Why node:https rather than fetch: Node 20's fetch cannot
// take a custom CA or client certificate without undici's Agent, which is not a dependency.
//
// Credentials: KUBECONFIG when set (current-context; token, tokenFile, client certificate/key, CA, insecure-skip-
// tls-verify, tls-server-name), otherwise in-cluster (KUBERNETES_SERVICE_HOST/PORT and the service-account token,
// re-read on every request because projected tokens rotate). The token never appears in errors or logs.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface ClusterAccess {
  server: URL;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTLSVerify?: boolean;
  /** TLS server name to verify instead of the URL's host. */
  tlsServerName?: string;
  /** Bearer token, read at request time (rotating tokens). */
  token?: () => string | undefined;
  /** Human description: "in-cluster" or "kubeconfig <path> (context <name>)". */
  source: string;
}

/** An API error: HTTP status, and the Status object's reason/message when the server sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string | undefined,
    readonly apiMessage: string | undefined,
    readonly path: string,
  ) {
    super(`GET ${path}: HTTP ${status}${reason ? ` ${reason}` : ''}${apiMessage ? `: ${apiMessage}` : ''}`);
    this.name = 'ApiError';
  }
}

export class AccessError extends Error {}

// ---------------------------------------------------------------------------------------------------------------
// Credentials.

export interface AccessOptions {
  /** Where the in-cluster token and ca.crt live (tests point it elsewhere). */
  serviceAccountDir?: string;
}

export async function loadAccess(env: Record<string, string | undefined>, opts: AccessOptions = {}): Promise<ClusterAccess> {
  if (env.KUBECONFIG && env.KUBECONFIG.trim() !== '') return loadKubeconfig(env.KUBECONFIG.trim());
  if (env.KUBERNETES_SERVICE_HOST) return inClusterAccess(env, opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  throw new AccessError('no Kubernetes API credentials: not in a pod (KUBERNETES_SERVICE_HOST unset) and KUBECONFIG unset');
}

export function inClusterAccess(env: Record<string, string | undefined>, saDir = SERVICE_ACCOUNT_DIR): ClusterAccess {
  const host = env.KUBERNETES_SERVICE_HOST as string;
  const port = env.KUBERNETES_SERVICE_PORT || '443';
  const server = new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`);
  let ca: Buffer;
  try {
    ca = readFileSync(`${saDir}/ca.crt`);
  } catch (err) {
    throw new AccessError(`in-cluster CA ${saDir}/ca.crt unreadable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const tokenPath = `${saDir}/token`;
  const token = (): string => {
    try {
      return readFileSync(tokenPath, 'utf8').trim();
    } catch (err) {
      throw new AccessError(`service-account token ${tokenPath} unreadable: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  };
  token(); // fail now rather than on the first request
  return { server, ca, token, source: 'in-cluster service account' };
}

type Named<T> = { name?: string } & T;
interface KubeconfigDoc {
  'current-context'?: string;
  clusters?: Array<Named<{ cluster?: Record<string, unknown> }>>;
  users?: Array<Named<{ user?: Record<string, unknown> }>>;
  contexts?: Array<Named<{ context?: { cluster?: string; user?: string; namespace?: string } }>>;
}

/** Load credentials from a kubeconfig (colon-separated list: first file wins per name, like kubectl). */
export async function loadKubeconfig(pathList: string, context?: string): Promise<ClusterAccess> {
  const { parse } = await import('yaml');
  const files = pathList.split(':').filter((p) => p !== '');
  const clusters = new Map<string, { cluster: Record<string, unknown>; base: string }>();
  const users = new Map<string, { user: Record<string, unknown>; base: string }>();
  const contexts = new Map<string, { cluster?: string; user?: string }>();
  let current: string | undefined;
  let readAny = false;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
      readAny = true;
    } catch {
      continue;
    }
    let doc: KubeconfigDoc;
    try {
      doc = (parse(text) ?? {}) as KubeconfigDoc;
    } catch (err) {
      throw new AccessError(`kubeconfig ${file}: invalid YAML (${(err as Error).message.split('\n')[0]})`);
    }
    const base = dirname(resolve(file));
    current ??= doc['current-context'] || undefined;
    for (const c of doc.clusters ?? []) if (c.name && !clusters.has(c.name)) clusters.set(c.name, { cluster: c.cluster ?? {}, base });
    for (const u of doc.users ?? []) if (u.name && !users.has(u.name)) users.set(u.name, { user: u.user ?? {}, base });
    for (const c of doc.contexts ?? []) if (c.name && !contexts.has(c.name)) contexts.set(c.name, c.context ?? {});
  }
  if (!readAny) throw new AccessError(`KUBECONFIG ${pathList}: no readable file`);
  const ctxName = context ?? current;
  if (!ctxName) throw new AccessError(`kubeconfig ${pathList}: no current-context`);
  const ctx = contexts.get(ctxName);
  if (!ctx) throw new AccessError(`kubeconfig ${pathList}: context ${JSON.stringify(ctxName)} not found`);
  const cl = ctx.cluster ? clusters.get(ctx.cluster) : undefined;
  if (!cl) throw new AccessError(`kubeconfig ${pathList}: cluster ${JSON.stringify(ctx.cluster)} of context ${ctxName} not found`);
  const serverText = cl.cluster.server;
  if (typeof serverText !== 'string' || !/^https?:\/\//.test(serverText)) {
    throw new AccessError(`kubeconfig ${pathList}: cluster ${ctx.cluster} has no http(s) server URL`);
  }
  const fileOrData = (section: Record<string, unknown>, base: string, key: string): Buffer | undefined => {
    const data = section[`${key}-data`];
    if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
    const p = section[key];
    if (typeof p === 'string' && p !== '') {
      const full = isAbsolute(p) ? p : resolve(base, p);
      try {
        return readFileSync(full);
      } catch (err) {
        throw new AccessError(`kubeconfig ${pathList}: ${key} ${full} unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    }
    return undefined;
  };
  const access: ClusterAccess = { server: new URL(serverText), source: `kubeconfig ${pathList} (context ${ctxName})` };
  const ca = fileOrData(cl.cluster, cl.base, 'certificate-authority');
  if (ca) access.ca = ca;
  if (cl.cluster['insecure-skip-tls-verify'] === true) access.insecureSkipTLSVerify = true;
  if (typeof cl.cluster['tls-server-name'] === 'string') access.tlsServerName = cl.cluster['tls-server-name'];
  const u = ctx.user ? users.get(ctx.user) : undefined;
  if (ctx.user && !u) throw new AccessError(`kubeconfig ${pathList}: user ${JSON.stringify(ctx.user)} of context ${ctxName} not found`);
  if (u) {
    if (u.user.exec || u.user['auth-provider']) {
      throw new AccessError(`kubeconfig ${pathList}: user ${ctx.user} uses an exec/auth-provider plugin, which ghostwire's in-pod client does not run; use a token or client certificate`);
    }
    const cert = fileOrData(u.user, u.base, 'client-certificate');
    const key = fileOrData(u.user, u.base, 'client-key');
    if ((cert === undefined) !== (key === undefined)) throw new AccessError(`kubeconfig ${pathList}: user ${ctx.user} needs both client-certificate and client-key`);
    if (cert && key) {
      access.cert = cert;
      access.key = key;
    }
    const tok = u.user.token;
    const tokenFile = u.user.tokenFile;
    if (typeof tok === 'string' && tok !== '') {
      access.token = () => tok;
    } else if (typeof tokenFile === 'string' && tokenFile !== '') {
      const full = isAbsolute(tokenFile) ? tokenFile : resolve(u.base, tokenFile);
      access.token = () => {
        try {
          return readFileSync(full, 'utf8').trim();
        } catch (err) {
          throw new AccessError(`kubeconfig tokenFile ${full} unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        }
      };
    }
  }
  return access;
}

// ---------------------------------------------------------------------------------------------------------------
// Objects (only the fields ghostwire reads).

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  labels?: Record<string, string>;
  resourceVersion?: string;
  deletionTimestamp?: string;
}

export interface PodLike {
  kind?: string;
  metadata?: ObjectMeta;
}

export interface ServiceObject {
  metadata?: ObjectMeta;
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    ipFamilies?: string[];
    ports?: Array<{ name?: string; port?: number; protocol?: string }>;
  };
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  object: T;
}

export interface WatchOptions<T> {
  resourceVersion?: string;
  /** Server-side timeout; the stream then ends normally and the caller re-watches. */
  timeoutSeconds?: number;
  /** Client-side guard: abort when nothing (not even a bookmark) arrived for this long. */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
  /** Called once the server answered 200: the watch is established. */
  onOpen?: () => void;
  onEvent: (event: WatchEvent<T>) => void;
}

export interface ClientOptions {
  /** Per-request timeout for non-watch requests. */
  timeoutMs?: number;
  userAgent?: string;
  /** Largest accepted response body (lists). */
  maxBodyBytes?: number;
  /** Called for each request (tests and metrics): method-less path, e.g. "/api/v1/namespaces/x/pods/y". */
  onRequest?: (path: string) => void;
}

const MAX_LINE = 16 * 1024 * 1024;

function statusFrom(body: string): { reason?: string; message?: string } {
  try {
    const s = JSON.parse(body) as { kind?: string; reason?: string; message?: string };
    if (s && typeof s === 'object') {
      const out: { reason?: string; message?: string } = {};
      if (typeof s.reason === 'string') out.reason = s.reason;
      if (typeof s.message === 'string') out.message = s.message;
      return out;
    }
  } catch {
    /* not JSON */
  }
  const text = body.trim().slice(0, 200);
  return text ? { message: text } : {};
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

  private watch<T>(path: string, opts: WatchOptions<T>): Promise<{ events: number }> {
    return new Promise<{ events: number }>((resolvePromise, reject) => {
      let settled = false;
      let idle: NodeJS.Timeout | undefined;
      let res: http.IncomingMessage | undefined;
      const ac = new AbortController();
      const onAbort = (): void => ac.abort(opts.signal?.reason);
      const done = (err?: Error, events = 0): void => {
        if (settled) return;
        settled = true;
        if (idle) clearTimeout(idle);
        opts.signal?.removeEventListener('abort', onAbort);
        if (err) {
          res?.destroy();
          if (opts.signal?.aborted && err.name !== 'AbortError') {
            const aborted = new Error(`watch ${path}: aborted`);
            aborted.name = 'AbortError';
            reject(aborted);
          } else reject(err);
        } else resolvePromise({ events });
      };
      if (opts.signal) {
        if (opts.signal.aborted) ac.abort();
        else opts.signal.addEventListener('abort', onAbort, { once: true });
      }
      const armIdle = (): void => {
        if (!opts.idleTimeoutMs) return;
        if (idle) clearTimeout(idle);
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
          let body = '';
          try {
            body = await this.readBody(response, path);
          } catch {
            /* keep the status */
          }
          const s = statusFrom(body);
          done(new ApiError(status, s.reason, s.message, path));
          return;
        }
        opts.onOpen?.();
        let events = 0;
        let buf = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          if (settled) return;
          armIdle();
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) !== -1) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line === '') continue;
            let ev: { type?: string; object?: unknown };
            try {
              ev = JSON.parse(line) as { type?: string; object?: unknown };
            } catch {
              done(new Error(`watch ${path}: malformed event line`));
              return;
            }
            if (ev.type === 'ERROR') {
              const st = (ev.object ?? {}) as { code?: number; reason?: string; message?: string };
              done(new ApiError(typeof st.code === 'number' ? st.code : 500, st.reason, st.message, path));
              return;
            }
            if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED' && ev.type !== 'DELETED' && ev.type !== 'BOOKMARK') continue;
            events++;
            try {
              opts.onEvent({ type: ev.type, object: ev.object as T });
            } catch (err) {
              done(err as Error);
              return;
            }
          }
          if (buf.length > MAX_LINE) done(new Error(`watch ${path}: event larger than ${MAX_LINE} bytes`));
        });
        response.on('end', () => done(undefined, events));
        response.on('error', (err) => done(this.describe(err, path)));
        response.on('close', () => done(new Error(`watch ${path}: connection closed before the stream ended`)));
      }, (err: Error) => done(err));
    });
  }
}
