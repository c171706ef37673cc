import { expect } from 'vitest';

/**
 * Asserts that the daemon at `url` still answers `GET /healthz` with 200 within `withinMs` after an attack.
 * Three tries, the fastest counts: one slow answer can be the test machine's scheduler, three cannot be.
 */
export async function expectHealthy(url: string, withinMs = 100): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5_000) });
    await res.arrayBuffer();
    times.push(performance.now() - t0);
    expect(res.status).toBe(200);
    if (times[times.length - 1]! <= withinMs) return;
  }
  expect(Math.min(...times), `/healthz answered in ${times.map((t) => t.toFixed(0)).join(', ')} ms`).toBeLessThanOrEqual(withinMs);
}
