// A budget for request bodies being admitted at the same time. Each body is read whole, then parsed into objects
// several times its size; with no bound, N concurrent 6 MiB reviews cost N times that (32 of them crashed a
// webhook with its heap capped at 128 MiB). A request is counted by its Content-Length (the body limit when it has
// none) from the moment its headers arrive until its answer is sent or the connection closes; one that would exceed
// the budget gets 503 with Retry-After at once, before its body is read (it is then discarded unread). Small reviews (kilobytes) never meet it
// unless thousands are in flight.
import type { FastifyInstance } from 'fastify';

/** Two requests at the 6 MiB body limit, or thousands of ordinary reviews. */
export const DEFAULT_IN_FLIGHT_BYTES = 12 * 1024 * 1024;

export interface BodyBudget {
  /** Bytes reserved by requests in flight now. */
  inFlight: () => number;
}

export function installBodyBudget(app: FastifyInstance, opts: { path: string; budgetBytes: number; bodyLimit: number; onRefused: () => void }): BodyBudget {
  let inFlight = 0;
  app.addHook('onRequest', (request, reply, done) => {
    if (request.method !== 'POST' || request.url.split('?')[0] !== opts.path) {
      done();
      return;
    }
    const declared = Number(request.headers['content-length']);
    // Unknown length (chunked): reserve the most it may be; a declared length over the limit is answered 413 later.
    const reserve = Number.isFinite(declared) && declared >= 0 ? Math.min(declared, opts.bodyLimit) : opts.bodyLimit;
    // One request alone is always admitted, whatever its size (the body limit bounds it).
    if (inFlight > 0 && inFlight + reserve > opts.budgetBytes) {
      opts.onRefused();
      // No "Connection: close": closing while the client still sends its body resets the connection before it
      // reads the answer. Node reads the unread body and drops it (never buffered), and the connection stays usable.
      void reply
        .code(503)
        .header('retry-after', '1')
        .type('application/json')
        .send({ error: `busy: ${Math.round(inFlight / 1024)} KiB of AdmissionReviews are being admitted (budget ${Math.round(opts.budgetBytes / 1024)} KiB); retry` });
      return;
    }
    inFlight += reserve;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inFlight -= reserve;
    };
    // 'close' follows a finished answer and an aborted request alike.
    reply.raw.once('close', release);
    reply.raw.once('finish', release);
    done();
  });
  return { inFlight: () => inFlight };
}
