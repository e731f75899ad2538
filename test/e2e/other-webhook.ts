// A second mutating webhook for reinvocation tests (a test double): it adds a sidecar of its own and, with
// `envOnEveryContainer`, an env var to every container it sees (ghostwire's included), so ghostwire's parts change
// after ghostwire ran and the API server must reinvoke it.
import { type Server, createServer as createHttpsServer } from 'node:https';
import { generateCA, generateServing } from '../../src/tls/certs.js';
import { freePort } from './harness.js';

export interface OtherWebhook {
  url: string;
  /** The double's CA, base64, for a webhook configuration's clientConfig.caBundle. */
  caBundle: string;
  /** AdmissionReviews answered so far. */
  calls: () => number;
  close: () => void;
}

interface Container {
  name: string;
  env?: Array<{ name: string }>;
}

export async function startOtherWebhook(opts: { envOnEveryContainer: boolean }): Promise<OtherWebhook> {
  const port = await freePort();
  const ca = generateCA('test-double-ca', 1);
  const pair = generateServing(ca, { commonName: 'double', dnsNames: [], ips: ['127.0.0.1'], days: 1 });
  let calls = 0;
  const server: Server = createHttpsServer({ key: pair.keyPem, cert: pair.certPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      calls++;
      const review = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const object = review.request.object;
      const isPod = object.spec.template === undefined;
      const spec: { containers: Container[] } = isPod ? object.spec : object.spec.template.spec;
      const at = isPod ? '/spec/containers' : '/spec/template/spec/containers';
      const ops: unknown[] = [];
      if (!spec.containers.some((c) => c.name === 'other-sidecar')) ops.push({ op: 'add', path: `${at}/-`, value: { name: 'other-sidecar', image: 'other:1' } });
      if (opts.envOnEveryContainer) {
        spec.containers.forEach((c, i) => {
          if (!(c.env ?? []).some((e) => e.name === 'OTHER')) {
            ops.push({ op: 'add', path: `${at}/${i}/env${c.env ? '/-' : ''}`, value: c.env ? { name: 'OTHER', value: '1' } : [{ name: 'OTHER', value: '1' }] });
          }
        });
      }
      const response: Record<string, unknown> = { uid: review.request.uid, allowed: true };
      if (ops.length) Object.assign(response, { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response }));
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { url: `https://127.0.0.1:${port}/mutate`, caBundle: Buffer.from(ca.certPem).toString('base64'), calls: () => calls, close: () => server.close() };
}
