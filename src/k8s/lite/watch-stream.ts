// A Kubernetes watch stream is one JSON event per line. This turns chunks of it into events, in order; an ERROR
// event (410 Gone among them) becomes an ApiError, a malformed or over-long line an Error.
import { ApiError, type WatchEvent } from './objects.js';

export const MAX_EVENT_BYTES = 16 * 1024 * 1024;

export class WatchStreamParser<T> {
  private buf = '';
  /** Events delivered so far (bookmarks included). */
  events = 0;

  constructor(
    private readonly path: string,
    private readonly onEvent: (event: WatchEvent<T>) => void,
  ) {}

  /** Feeds a chunk; returns the error that ends the stream, if any (an exception of onEvent included). */
  push(chunk: string): Error | undefined {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) !== -1) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line === '') continue;
      const error = this.line(line);
      if (error) return error;
    }
    return this.buf.length > MAX_EVENT_BYTES ? new Error(`watch ${this.path}: event larger than ${MAX_EVENT_BYTES} bytes`) : undefined;
  }

  private line(line: string): Error | undefined {
    let ev: { type?: string; object?: unknown };
    try {
      ev = JSON.parse(line) as { type?: string; object?: unknown };
    } catch {
      return new Error(`watch ${this.path}: malformed event line`);
    }
    if (ev.type === 'ERROR') {
      const st = (ev.object ?? {}) as { code?: number; reason?: string; message?: string };
      return new ApiError(typeof st.code === 'number' ? st.code : 500, st.reason, st.message, this.path);
    }
    if (ev.type !== 'ADDED' && ev.type !== 'MODIFIED' && ev.type !== 'DELETED' && ev.type !== 'BOOKMARK') return undefined;
    this.events++;
    try {
      this.onEvent({ type: ev.type, object: ev.object as T });
    } catch (err) {
      return err as Error;
    }
    return undefined;
  }
}
