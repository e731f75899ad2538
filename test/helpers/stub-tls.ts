// Throw-away CA, server and client certificates for stub API servers (keys from node:crypto, fast; certificates
// signed with node-forge).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface TestPki {
  caPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  clientCertPem: string;
  clientKeyPem: string;
}

function keyPair(): { pub: forge.pki.PublicKey; priv: forge.pki.PrivateKey; privPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { pub: forge.pki.publicKeyFromPem(publicKey), priv: forge.pki.privateKeyFromPem(privateKey), privPem: privateKey };
}

function cert(
  subjectCN: string,
  pub: forge.pki.PublicKey,
  signer: forge.pki.PrivateKey,
  issuer: forge.pki.CertificateField[] | undefined,
  extensions: object[],
): forge.pki.Certificate {
  const c = forge.pki.createCertificate();
  c.publicKey = pub;
  c.serialNumber = `01${randomBytes(8).toString('hex')}`;
  c.validity.notBefore = new Date(Date.now() - 60_000);
  c.validity.notAfter = new Date(Date.now() + 24 * 3600_000);
  const subject = [{ name: 'commonName', value: subjectCN }];
  c.setSubject(subject);
  c.setIssuer(issuer ?? subject);
  c.setExtensions(extensions);
  c.sign(signer as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return c;
}

export function makeTestPki(hosts: { dns?: string[]; ips?: string[] } = { dns: ['localhost'], ips: ['127.0.0.1', '::1'] }): TestPki {
  const ca = keyPair();
  const caCert = cert('ghostwire-test-ca', ca.pub, ca.priv, undefined, [
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  const alt = [...(hosts.dns ?? []).map((value) => ({ type: 2, value })), ...(hosts.ips ?? []).map((ip) => ({ type: 7, ip }))];
  const server = keyPair();
  const serverCert = cert('kube-apiserver-stub', server.pub, ca.priv, caCert.subject.attributes, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: alt },
  ]);
  const client = keyPair();
  const clientCert = cert('system:serviceaccount:test:ghostwire', client.pub, ca.priv, caCert.subject.attributes, [
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', clientAuth: true },
  ]);
  return {
    caPem: forge.pki.certificateToPem(caCert),
    serverCertPem: forge.pki.certificateToPem(serverCert),
    serverKeyPem: server.privPem,
    clientCertPem: forge.pki.certificateToPem(clientCert),
    clientKeyPem: client.privPem,
  };
}
