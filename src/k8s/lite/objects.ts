// What the in-pod API client reads and how it reports API errors.
import type { ObjectMeta } from '../../kube/objects.js';

export interface PodLike {
  kind?: string;
  metadata?: ObjectMeta;
}

/** The subset of a core/v1 Service that discovery reads. */
export interface ServiceObject {
  metadata?: ObjectMeta;
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    ipFamilies?: string[];
    ports?: Array<{ name?: string; port?: number; protocol?: string }>;
  };
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  object: T;
}

export interface WatchOptions<T> {
  resourceVersion?: string;
  /** Server-side timeout; the stream then ends normally and the caller re-watches. */
  timeoutSeconds?: number;
  /** Client-side guard: abort when nothing (not even a bookmark) arrived for this long. */
  idleTimeoutMs?: number;
  signal?: AbortSignal;
  /** Called once the server answered 200: the watch is established. */
  onOpen?: () => void;
  onEvent: (event: WatchEvent<T>) => void;
}

/** An API error: HTTP status, and the Status object's reason/message when the server sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string | undefined,
    readonly apiMessage: string | undefined,
    readonly path: string,
    readonly method = 'GET',
  ) {
    super(`${method} ${path}: HTTP ${status}${reason ? ` ${reason}` : ''}${apiMessage ? `: ${apiMessage}` : ''}`);
    this.name = 'ApiError';
  }
}

/** reason and message of a Status body (or the start of a non-JSON body). */
export function statusFrom(body: string): { reason?: string; message?: string } {
  try {
    const s = JSON.parse(body) as { kind?: string; reason?: string; message?: string };
    if (s && typeof s === 'object') {
      const out: { reason?: string; message?: string } = {};
      if (typeof s.reason === 'string') out.reason = s.reason;
      if (typeof s.message === 'string') out.message = s.message;
      return out;
    }
  } catch {
    /* not JSON */
  }
  const text = body.trim().slice(0, 200);
  return text ? { message: text } : {};
}
