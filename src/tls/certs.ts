// CA and serving certificates with node-forge. RSA keys come from node:crypto (native, ~50x faster than
// forge's pure-JS key generation); node-forge builds and signs the X.509 certificates.
import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import { isDns1123Subdomain } from '../config/validate.js';
import { ipFamily } from '../net/address.js';
import forge from 'node-forge';

export interface KeyPairPem {
  certPem: string;
  keyPem: string;
}

export interface ServingOptions {
  commonName: string;
  dnsNames: string[];
  ips: string[];
  days: number;
}

const DAY_MS = 86_400_000;

function rsaKey(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), keyPem };
}

function serial(): string {
  // Positive 128-bit serial (leading nibble < 8 keeps the DER integer positive).
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate, days: number, now: Date): void {
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000); // tolerate small clock skew
  cert.validity.notAfter = new Date(now.getTime() + days * DAY_MS);
}

export function generateCA(commonName: string, days: number, now = new Date()): KeyPairPem {
  const { privateKey, publicKey, keyPem } = rsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  validity(cert, days, now);
  const subject = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'ghostwire' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

export function generateServing(ca: KeyPairPem, opts: ServingOptions, now = new Date()): KeyPairPem {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const { publicKey, keyPem } = rsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  validity(cert, opts.days, now);
  cert.setSubject([{ name: 'commonName', value: opts.commonName }]);
  cert.setIssuer(caCert.subject.attributes);
  const altNames = [
    ...opts.dnsNames.map((value) => ({ type: 2, value })),
    ...opts.ips.map((ip) => ({ type: 7, ip })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/** Names a webhook Service answers to, in the order kubectl and the API server use them. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}

export function validateSans(ips: string[], dnsNames: string[]): string[] {
  const problems: string[] = [];
  for (const ip of ips) if (ipFamily(ip) === undefined) problems.push(`--ip: ${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
  for (const d of dnsNames) {
    if (!isDns1123Subdomain(d.startsWith('*.') ? d.slice(2) : d)) {
      problems.push(`--dns: ${JSON.stringify(d)} is not a DNS name`);
    }
  }
  return problems;
}

/** notAfter of a PEM certificate, for the expiry metric (node:crypto reads RSA and ECDSA alike; forge only RSA). */
export function certificateNotAfter(certPem: string): Date {
  return new Date(new X509Certificate(certPem).validTo);
}

/** The validity period of a PEM certificate. */
export function certificateValidity(certPem: string): { notBefore: Date; notAfter: Date } {
  const x509 = new X509Certificate(certPem);
  return { notBefore: new Date(x509.validFrom), notAfter: new Date(x509.validTo) };
}
