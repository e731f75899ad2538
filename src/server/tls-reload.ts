// Serving certificate hot reload: new handshakes get the new pair, established connections are untouched.
// Files are polled (stat), which follows the symlink swaps Kubernetes uses for Secret volumes. A pair that is not
// usable now (key and certificate do not match, expired, not valid yet) is rejected: the current pair keeps serving,
// the rejection is logged once per state of the files and counted, and readiness reports a current pair that is
// not (or no longer) within its validity period.
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type Server as TlsServer } from 'node:tls';
import type { Logger } from '../log.js';
import { certificateValidity as validityOf } from '../tls/certs.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsPair {
  cert: string;
  key: string;
  notBefore: Date;
  notAfter: Date;
}

/** Why a pair is not served: its key does not match, or the time is outside its validity period. */
export type RejectionReason = 'unusable' | 'expired' | 'not-yet-valid';

export class TlsPairError extends Error {
  constructor(
    message: string,
    readonly reason: RejectionReason,
  ) {
    super(message);
  }
}

/** Reads and checks a pair; throws with the file names if the key does not match the certificate. */
export function loadTlsPair(files: TlsFiles): TlsPair {
  const cert = readFileSync(files.certFile, 'utf8');
  const key = readFileSync(files.keyFile, 'utf8');
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new TlsPairError(`TLS pair ${files.certFile} / ${files.keyFile} is unusable: ${(err as Error).message}`, 'unusable');
  }
  return { cert, key, ...validityOf(cert) };
}

/** 'valid', or why the pair must not be served at `now`. */
export function pairValidity(pair: Pick<TlsPair, 'notBefore' | 'notAfter'>, now: Date = new Date()): 'valid' | 'expired' | 'not-yet-valid' {
  if (now.getTime() > pair.notAfter.getTime()) return 'expired';
  if (now.getTime() < pair.notBefore.getTime()) return 'not-yet-valid';
  return 'valid';
}

/** A pair that is usable and valid now; throws TlsPairError naming the files and the validity period otherwise. */
export function loadValidTlsPair(files: TlsFiles, now: Date = new Date()): TlsPair {
  const pair = loadTlsPair(files);
  const validity = pairValidity(pair, now);
  if (validity !== 'valid') {
    const period = `valid from ${pair.notBefore.toISOString()} to ${pair.notAfter.toISOString()}`;
    throw new TlsPairError(`TLS certificate ${files.certFile} is ${validity === 'expired' ? 'expired' : 'not valid yet'} (${period})`, validity);
  }
  return pair;
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

export interface TlsReloadHooks {
  onLoaded: (pair: TlsPair) => void;
  /** Called once per state of the files that holds a pair that is not served. */
  onRejected?: (reason: RejectionReason) => void;
  now?: () => Date;
}

export function watchTls(server: TlsServer, files: TlsFiles, log: Logger, hooks: TlsReloadHooks, intervalMs = 2000): TlsReloader {
  let last = '';
  // A rejected pair is reported once per state of the files, not on every tick.
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
      const pair = loadValidTlsPair(files, hooks.now?.() ?? new Date());
      server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
      last = current;
      hooks.onLoaded(pair);
      log.info({ notBefore: pair.notBefore.toISOString(), notAfter: pair.notAfter.toISOString() }, 'serving certificate reloaded');
      return true;
    } catch (err) {
      // Typically the certificate was written before its key: retry on the next tick, keep serving the old pair.
      if (reported !== current) {
        const reason = err instanceof TlsPairError ? err.reason : 'unusable';
        log.warn({ reason, err: { message: (err as Error).message } }, 'new serving certificate rejected; keeping the current pair');
        hooks.onRejected?.(reason);
      }
      reported = current;
      return false;
    }
  };
  const timer = setInterval(check, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), check };
}
