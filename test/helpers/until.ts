// Waiting for a condition in tests that drive real processes: poll, and on timeout say what was awaited and the
// last value seen (the difference between "never happened" and "happened wrong").

/** Polls fn every 25 ms until ok(value) holds and returns that value; throws after ms naming `what` and the last value. */
export async function until<T>(what: string, fn: () => Promise<T> | T, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  let last = await fn();
  while (!ok(last)) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 25));
    last = await fn();
  }
  return last;
}
