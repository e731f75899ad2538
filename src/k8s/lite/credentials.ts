// Credentials of the in-pod API client: KUBECONFIG when set (current-context; token, tokenFile, client
// certificate/key, CA, insecure-skip-tls-verify, tls-server-name), otherwise in-cluster (KUBERNETES_SERVICE_HOST/PORT
// and the service-account token, re-read on every request because projected tokens rotate). The token never
// appears in errors or logs.
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

export class AccessError extends Error {}

export interface AccessOptions {
  /** Where the in-cluster token and ca.crt live (tests point it elsewhere). */
  serviceAccountDir?: string;
}

export async function loadAccess(env: Record<string, string | undefined>, opts: AccessOptions = {}): Promise<ClusterAccess> {
  if (env.KUBECONFIG && env.KUBECONFIG.trim() !== '') return loadKubeconfig(env.KUBECONFIG.trim());
  if (env.KUBERNETES_SERVICE_HOST) return inClusterAccess(env, opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  throw new AccessError('no Kubernetes API credentials: not in a pod (KUBERNETES_SERVICE_HOST unset) and KUBECONFIG unset');
}

/** A token read from a file at every request; an unreadable file is an AccessError naming only the path. */
function tokenFromFile(path: string, what: string): () => string {
  return () => {
    try {
      return readFileSync(path, 'utf8').trim();
    } catch (err) {
      throw new AccessError(`${what} ${path} unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  };
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
  const token = tokenFromFile(`${saDir}/token`, 'service-account token');
  token(); // fail now rather than on the first request
  return { server, ca, token, source: 'in-cluster service account' };
}

type Section = Record<string, unknown>;
type Named<T> = { name?: string } & T;
interface KubeconfigDoc {
  'current-context'?: string;
  clusters?: Array<Named<{ cluster?: Section }>>;
  users?: Array<Named<{ user?: Section }>>;
  contexts?: Array<Named<{ context?: { cluster?: string; user?: string; namespace?: string } }>>;
}

interface MergedKubeconfig {
  current: string | undefined;
  clusters: Map<string, { cluster: Section; base: string }>;
  users: Map<string, { user: Section; base: string }>;
  contexts: Map<string, { cluster?: string; user?: string }>;
}

/** Every readable file of the list merged like kubectl does: the first file that names an entry wins. */
async function mergeKubeconfigs(pathList: string): Promise<MergedKubeconfig> {
  const { parse } = await import('yaml');
  const merged: MergedKubeconfig = { current: undefined, clusters: new Map(), users: new Map(), contexts: new Map() };
  let readAny = false;
  for (const file of pathList.split(':').filter((p) => p !== '')) {
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
    merged.current ??= doc['current-context'] || undefined;
    for (const c of doc.clusters ?? []) if (c.name && !merged.clusters.has(c.name)) merged.clusters.set(c.name, { cluster: c.cluster ?? {}, base });
    for (const u of doc.users ?? []) if (u.name && !merged.users.has(u.name)) merged.users.set(u.name, { user: u.user ?? {}, base });
    for (const c of doc.contexts ?? []) if (c.name && !merged.contexts.has(c.name)) merged.contexts.set(c.name, c.context ?? {});
  }
  if (!readAny) throw new AccessError(`KUBECONFIG ${pathList}: no readable file`);
  return merged;
}

/** `<key>-data` (base64) or the file `<key>` (relative to the kubeconfig that named it). */
function fileOrData(section: Section, base: string, key: string, where: string): Buffer | undefined {
  const data = section[`${key}-data`];
  if (typeof data === 'string' && data !== '') return Buffer.from(data, 'base64');
  const p = section[key];
  if (typeof p !== 'string' || p === '') return undefined;
  const full = isAbsolute(p) ? p : resolve(base, p);
  try {
    return readFileSync(full);
  } catch (err) {
    throw new AccessError(`${where}: ${key} ${full} unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** The user's client certificate and token into `access`. */
function applyUser(access: ClusterAccess, name: string, u: { user: Section; base: string }, where: string): void {
  if (u.user.exec || u.user['auth-provider']) {
    throw new AccessError(`${where}: user ${name} uses an exec/auth-provider plugin, which ghostwire's in-pod client does not run; use a token or client certificate`);
  }
  const cert = fileOrData(u.user, u.base, 'client-certificate', where);
  const key = fileOrData(u.user, u.base, 'client-key', where);
  if ((cert === undefined) !== (key === undefined)) throw new AccessError(`${where}: user ${name} needs both client-certificate and client-key`);
  if (cert && key) Object.assign(access, { cert, key });
  const tok = u.user.token;
  const tokenFile = u.user.tokenFile;
  if (typeof tok === 'string' && tok !== '') access.token = () => tok;
  else if (typeof tokenFile === 'string' && tokenFile !== '') access.token = tokenFromFile(isAbsolute(tokenFile) ? tokenFile : resolve(u.base, tokenFile), 'kubeconfig tokenFile');
}

/** Load credentials from a kubeconfig (colon-separated list: first file wins per name, like kubectl). */
export async function loadKubeconfig(pathList: string, context?: string): Promise<ClusterAccess> {
  const where = `kubeconfig ${pathList}`;
  const merged = await mergeKubeconfigs(pathList);
  const ctxName = context ?? merged.current;
  if (!ctxName) throw new AccessError(`${where}: no current-context`);
  const ctx = merged.contexts.get(ctxName);
  if (!ctx) throw new AccessError(`${where}: context ${JSON.stringify(ctxName)} not found`);
  const cl = ctx.cluster ? merged.clusters.get(ctx.cluster) : undefined;
  if (!cl) throw new AccessError(`${where}: cluster ${JSON.stringify(ctx.cluster)} of context ${ctxName} not found`);
  const serverText = cl.cluster.server;
  if (typeof serverText !== 'string' || !/^https?:\/\//.test(serverText)) throw new AccessError(`${where}: cluster ${ctx.cluster} has no http(s) server URL`);
  const access: ClusterAccess = { server: new URL(serverText), source: `${where} (context ${ctxName})` };
  const ca = fileOrData(cl.cluster, cl.base, 'certificate-authority', where);
  if (ca) access.ca = ca;
  if (cl.cluster['insecure-skip-tls-verify'] === true) access.insecureSkipTLSVerify = true;
  if (typeof cl.cluster['tls-server-name'] === 'string') access.tlsServerName = cl.cluster['tls-server-name'];
  const u = ctx.user ? merged.users.get(ctx.user) : undefined;
  if (ctx.user && !u) throw new AccessError(`${where}: user ${JSON.stringify(ctx.user)} of context ${ctxName} not found`);
  if (u) applyUser(access, ctx.user as string, u, where);
  return access;
}
