// Real HTTPS against the webhook: generated CA + serving certificate, node:https client pinned to that CA.
import { request, Agent } from 'node:https';
import { makeWebhookCerts, type CertFiles } from '../../src/commands/certs.js';

let cached: CertFiles | undefined;
/** One CA + localhost certificate per test process (RSA generation is the slow part). */
export function testCerts(): CertFiles {
  cached ??= makeWebhookCerts('ghostwire', 'ghostwire', ['127.0.0.1'], ['localhost'], 30);
  return cached;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json: () => any;
}

export function httpsRequest(
  port: number,
  method: string,
  path: string,
  options: { body?: string | Buffer; contentType?: string; ca?: string; agent?: Agent; minVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2'; maxVersion?: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3'; insecure?: boolean } = {},
): Promise<HttpResult & { peerSerial?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        ca: options.ca ?? testCerts().caPem,
        agent: options.agent ?? false,
        // Only to look at a server that serves an expired or not-yet-valid certificate (and must say so).
        ...(options.insecure ? { rejectUnauthorized: false } : {}),
        ...(options.minVersion ? { minVersion: options.minVersion } : {}),
        ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
        // With a Content-Length, as the API server sends it (the webhook budgets in-flight bodies by it).
        headers: options.body !== undefined ? { 'content-type': options.contentType ?? 'application/json', 'content-length': Buffer.byteLength(options.body) } : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        // Read the peer before 'end': a keep-alive agent takes the socket back after it.
        const peer = (res.socket as import('node:tls').TLSSocket | null)?.getPeerCertificate?.();
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body), ...(peer?.serialNumber ? { peerSerial: peer.serialNumber } : {}) });
        });
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export function reviewFor(object: unknown, overrides: Record<string, unknown> = {}): string {
  const o = object as { apiVersion: string; kind: string; metadata?: { name?: string; namespace?: string } };
  const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : ['', o.apiVersion];
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${Math.random().toString(16).slice(2)}`,
      kind: { group, version, kind: o.kind },
      resource: { group, version, resource: `${o.kind.toLowerCase()}s` },
      name: o.metadata?.name,
      namespace: o.metadata?.namespace ?? 'default',
      operation: 'CREATE',
      object,
      userInfo: { username: 'test' },
      dryRun: false,
      ...overrides,
    },
  });
}
