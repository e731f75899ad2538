// Collects pino JSON lines in memory.
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log.js';

export interface LogEntry {
  level: string;
  msg: string;
  [k: string]: unknown;
}

export class LogCapture extends Writable {
  readonly lines: LogEntry[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) this.lines.push(JSON.parse(l) as LogEntry);
    cb();
  }
  /** pino needs a `write` it can call synchronously; Writable provides it. */
  logger(name = 'test', level: 'debug' | 'info' = 'debug'): Logger {
    return createLogger(name, level, this as unknown as Parameters<typeof createLogger>[2]);
  }
  find(re: RegExp): LogEntry | undefined {
    return this.lines.find((l) => re.test(l.msg));
  }
  all(re: RegExp): LogEntry[] {
    return this.lines.filter((l) => re.test(l.msg));
  }
}
