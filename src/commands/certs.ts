// ghostwire certs: a CA and a serving certificate for the webhook Service.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { generateCA, generateServing, serviceDnsNames, validateSans } from '../tls/certs.js';
import { UsageError, integer, parseFlags, runCommand } from './flags.js';

const USAGE = `Usage: ghostwire certs --out DIR --service NAME --namespace NS [--ip IP ...] [--dns NAME ...] [--days N]

Writes DIR/ca.crt, DIR/tls.crt and DIR/tls.key (mode 0600) and prints the base64 CA bundle for the webhook
configuration's caBundle. SANs: NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local, plus --ip and --dns.`;

export interface CertFiles {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export function makeWebhookCerts(service: string, namespace: string, ips: string[], dns: string[], days: number): CertFiles {
  const ca = generateCA(`ghostwire-ca ${namespace}/${service}`, days);
  const serving = generateServing(ca, {
    commonName: `${service}.${namespace}.svc`,
    dnsNames: [...new Set([...serviceDnsNames(service, namespace), ...dns])],
    ips,
    days,
  });
  return { caPem: ca.certPem, certPem: serving.certPem, keyPem: serving.keyPem };
}

/**
 * Writes `path` as a new file that has its final mode from the first byte: a temporary file created exclusively (never
 * through a symlink, never an existing file) in the same directory, then renamed over `path`. A pre-existing file
 * (world-readable, say) never receives the content, and a symlink at `path` is replaced, not followed.
 */
export function writeFileAtomic(path: string, data: string, mode: number): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export function writeCertFiles(dir: string, files: CertFiles): void {
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'ca.crt'), files.caPem, 0o644);
  writeFileAtomic(join(dir, 'tls.crt'), files.certPem, 0o644);
  writeFileAtomic(join(dir, 'tls.key'), files.keyPem, 0o600);
}

export async function run(argv: string[]): Promise<number> {
  return runCommand('ghostwire certs', async () => {
    const values = parseFlags(argv, {
      out: { type: 'string' },
      service: { type: 'string' },
      namespace: { type: 'string' },
      ip: { type: 'string', multiple: true, default: [] },
      dns: { type: 'string', multiple: true, default: [] },
      days: { type: 'string', default: '365' },
    }, USAGE);
    if (values.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    for (const f of ['out', 'service', 'namespace'] as const) if (!values[f]) throw new UsageError(`--${f} is required\n\n${USAGE}`);
    const days = integer('days', values.days, 1, 3650);
    const ips = values.ip as string[];
    const dns = values.dns as string[];
    const problems = validateSans(ips, dns);
    if (problems.length > 0) throw new UsageError(problems.join('; '));
    const files = makeWebhookCerts(values.service as string, values.namespace as string, ips, dns, days);
    writeCertFiles(values.out as string, files);
    process.stdout.write(`${Buffer.from(files.caPem).toString('base64')}\n`);
    return 0;
  });
}
