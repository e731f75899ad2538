// Serving certificate hot reload: new handshakes get the new pair, established connections are untouched.
// Files are polled (stat), which follows the symlink swaps Kubernetes uses for Secret volumes.
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type Server as TlsServer } from 'node:tls';
import type { Logger } from '../log.js';
import { certificateNotAfter } from '../tls/certs.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsPair {
  cert: string;
  key: string;
  notAfter: Date;
}

/** Reads and checks a pair; throws with the file names if the key does not match the certificate. */
export function loadTlsPair(files: TlsFiles): TlsPair {
  const cert = readFileSync(files.certFile, 'utf8');
  const key = readFileSync(files.keyFile, 'utf8');
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new Error(`TLS pair ${files.certFile} / ${files.keyFile} is unusable: ${(err as Error).message}`);
  }
  return { cert, key, notAfter: certificateNotAfter(cert) };
}

function fingerprint(files: TlsFiles): string {
  const a = statSync(files.certFile);
  const b = statSync(files.keyFile);
  return `${a.mtimeMs}:${a.size}:${a.ino}|${b.mtimeMs}:${b.size}:${b.ino}`;
}

export interface TlsReloader {
  stop: () => void;
  /** Check now (tests call this instead of waiting for the timer). */
  check: () => boolean;
}

export function watchTls(
  server: TlsServer,
  files: TlsFiles,
  log: Logger,
  onLoaded: (pair: TlsPair) => void,
  intervalMs = 2000,
): TlsReloader {
  let last = '';
  // A broken pair is reported once per state of the files, not on every tick.
  let reported = '';
  try {
    last = fingerprint(files);
  } catch {
    // Reported by the first check.
  }
  const check = (): boolean => {
    let current: string;
    try {
      current = fingerprint(files);
    } catch (err) {
      log.warn({ err: { message: (err as Error).message } }, 'serving certificate files not readable; keeping the current pair');
      return false;
    }
    if (current === last) return false;
    try {
      const pair = loadTlsPair(files);
      server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
      last = current;
      onLoaded(pair);
      log.info({ notAfter: pair.notAfter.toISOString() }, 'serving certificate reloaded');
      return true;
    } catch (err) {
      // Typically the certificate was written before its key: retry on the next tick, keep serving the old pair.
      if (reported !== current) log.warn({ err: { message: (err as Error).message } }, 'new serving certificate rejected; keeping the current pair');
      reported = current;
      return false;
    }
  };
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), check };
}
