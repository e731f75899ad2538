// What an API error from @kubernetes/client-node says, in one line: status code, reason and the Status message.
// Never the request or response body as such (a Secret create error must not echo the Secret), never headers.

/** HTTP status of a client-node ApiException (undefined for transport errors). */
export function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

export function describeApiError(err: unknown): string {
  const code = statusCode(err);
  if (code === undefined) return err instanceof Error ? err.message.split('\n')[0] ?? 'error' : String(err);
  const body = (err as { body?: unknown }).body;
  let status: { reason?: unknown; message?: unknown } | undefined;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body) as typeof status;
    } catch {
      status = undefined;
    }
  } else if (body && typeof body === 'object') {
    status = body as typeof status;
  }
  const reason = typeof status?.reason === 'string' ? ` ${status.reason}` : '';
  const message = typeof status?.message === 'string' ? `: ${status.message.slice(0, 300)}` : '';
  return `HTTP ${code}${reason}${message}`;
}
