import { describe, expect, it } from 'vitest';
import { InFlight } from '../../../src/engine/host/inflight.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('InFlight', () => {
  it('settles when the last tracked promise settles, including ones added while waiting', async () => {
    const inflight = new InFlight();
    const a = deferred();
    const b = deferred();
    let settledCalls = 0;
    inflight.add(a.promise, () => settledCalls++);
    let done = false;
    const waiting = inflight.settled().then(() => {
      done = true;
    });
    inflight.add(b.promise, () => settledCalls++);
    a.resolve();
    await turn();
    expect(done).toBe(false);
    expect(inflight.size).toBe(1);
    b.resolve();
    await waiting;
    expect(inflight.size).toBe(0);
    expect(settledCalls).toBe(2);
  });

  it('settledWithin gives up after its time, and is true at once when nothing is in flight', async () => {
    const inflight = new InFlight();
    expect(await inflight.settledWithin(60_000)).toBe(true);
    const a = deferred();
    inflight.add(a.promise, () => undefined);
    expect(await inflight.settledWithin(10)).toBe(false);
    expect(await inflight.settledWithin(0)).toBe(false);
    const within = inflight.settledWithin(60_000);
    a.resolve();
    expect(await within).toBe(true);
  });
});
