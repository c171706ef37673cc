import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/config.js';
import { DEFAULTS } from '../../src/config/defaults.js';
import { StationError } from '../../src/errors.js';
import { hostName } from '../../src/server/guards.js';
import { clientKey, LogThrottle, TokenBuckets } from '../../src/server/rate-limit.js';

describe('client keys', () => {
  it('keeps IPv4 addresses, unmaps IPv4-mapped ones and groups IPv6 by /64', () => {
    expect(clientKey('10.1.2.3')).toBe('10.1.2.3');
    expect(clientKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('::1')).toBe('0:0:0:0::/64');
    expect(clientKey(undefined)).toBe('unknown');
  });

  it('reads the name of a Host header', () => {
    expect(hostName('localhost:7878')).toBe('localhost');
    expect(hostName('[::1]:7878')).toBe('[::1]');
    expect(hostName('127.0.0.1')).toBe('127.0.0.1');
    expect(hostName('evil.example:7878')).toBe('evil.example');
  });
});

describe('token buckets', () => {
  it('allow a burst of max, then refill evenly over the window, per key', () => {
    let now = 0;
    const b = new TokenBuckets({ max: 3, windowSeconds: 30 }, () => now);
    expect([b.take('a'), b.take('a'), b.take('a'), b.take('a')]).toEqual([true, true, true, false]);
    expect(b.take('b')).toBe(true);
    expect(b.has('a')).toBe(false);
    expect(b.retryAfterSeconds('a')).toBe(10);
    now = 9_000;
    expect(b.take('a')).toBe(false);
    expect(b.retryAfterSeconds('a')).toBe(1);
    now = 10_000;
    expect(b.take('a')).toBe(true);
    now = 1_000_000;
    expect([b.take('a'), b.take('a'), b.take('a'), b.take('a')]).toEqual([true, true, true, false]);
  });

  it('a log throttle passes one line per key and interval and counts the rest', () => {
    let now = 0;
    const t = new LogThrottle(60_000, () => now);
    expect(t.pass('x')).toEqual({ suppressed: 0 });
    expect(t.pass('x')).toBeNull();
    expect(t.pass('x')).toBeNull();
    expect(t.pass('y')).toEqual({ suppressed: 0 });
    now = 60_000;
    expect(t.pass('x')).toEqual({ suppressed: 2 });
  });
});

describe('server limits in station.yaml', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const withFile = (yaml: string) => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-limits-'));
    fs.writeFileSync(path.join(dir, 'station.yaml'), yaml);
    return () => resolveConfig({ repo: dir }, {});
  };

  it('defaults every limit and merges the ones given', () => {
    const c = withFile('server:\n  limits: {maxStreams: 10}\n  rateLimits:\n    webhooks: {max: 5, windowSeconds: 2}\n')();
    expect(c.server.limits).toEqual({ ...DEFAULTS.server.limits, maxStreams: 10 });
    expect(c.server.rateLimits).toEqual({ authFailures: DEFAULTS.server.rateLimits.authFailures, webhooks: { max: 5, windowSeconds: 2 } });
    expect(c.server.trustProxy).toBe(false);
  });

  it('refuses unknown keys, non-positive values and a header timeout longer than the request timeout', () => {
    for (const yaml of [
      'server:\n  limits: {maxStreamz: 10}\n',
      'server:\n  limits: {maxConnections: 0}\n',
      'server:\n  rateLimits:\n    webhooks: {max: 5}\n',
      'server:\n  limits: {headersTimeoutSeconds: 40, requestTimeoutSeconds: 30}\n',
    ]) {
      const load = withFile(yaml);
      let err: unknown;
      try {
        load();
      } catch (e) {
        err = e;
      }
      expect(err, yaml).toBeInstanceOf(StationError);
      expect((err as StationError).code).toBe('STN_E_CONFIG');
    }
  });
});
