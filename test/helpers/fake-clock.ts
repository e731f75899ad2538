// A clock that only moves when the code under test waits: timeouts are reached instantly and deterministically.
import type { Clock } from '../../src/shadow/api.js';

export class FakeClock implements Clock {
  t = Date.UTC(2025, 0, 1);
  waits: number[] = [];
  now(): number {
    return this.t;
  }
  waitForChange = async (ms: number, signal?: AbortSignal): Promise<void> => {
    if (signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortedError' });
    this.waits.push(ms);
    this.t += ms;
  };
}
