import { pino } from 'pino';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Masker, variantsOf } from '../../src/engine/masking.js';
import { Secrets } from '../../src/engine/secrets.js';

/** Issue #9 item 10: masking covers the forms a step prints a secret in, stays fast, and says what it cannot do. */

const SECRET = 'hunter2-Correct/Horse+Battery"Staple';
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

function logger() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'warn' }, sink), lines };
}

describe('masking', () => {
  const m = new Masker([SECRET]);

  it.each([
    ['as is', SECRET],
    ['upper case', SECRET.toUpperCase()],
    ['lower case', SECRET.toLowerCase()],
    ['JSON-escaped', JSON.stringify(SECRET).slice(1, -1)],
    ['JSON-escaped twice', JSON.stringify(JSON.stringify({ s: SECRET }))],
    ['URL-encoded', encodeURIComponent(SECRET)],
    ['URL-encoded, lower-case hex', encodeURIComponent(SECRET).replace(/%[0-9A-F]{2}/g, (x) => x.toLowerCase())],
    ['form-encoded', new URLSearchParams({ s: SECRET }).toString()],
    ['base64', b64(SECRET)],
    ['base64url', Buffer.from(SECRET).toString('base64url')],
    ['base64 after 1 byte', b64(`a${SECRET}`)],
    ['base64 after 2 bytes', b64(`ab${SECRET}`)],
    ['base64 of a longer text', b64(`Authorization: Basic user:${SECRET} and more`)],
    ['hex', Buffer.from(SECRET).toString('hex')],
    ['upper-case hex', Buffer.from(SECRET).toString('hex').toUpperCase()],
  ])('hides the secret %s', (_what, form) => {
    const text = `before ${form} after`;
    const masked = m.mask(text);
    expect(masked).toContain('***');
    expect(masked.startsWith('before ')).toBe(true);
    for (const v of variantsOf(SECRET)) expect(masked.toLowerCase()).not.toContain(v.toLowerCase());
  });

  it('leaves text without secrets alone, and replaces a secret containing another whole', () => {
    expect(m.mask('nothing to see here')).toBe('nothing to see here');
    const both = new Masker(['abcdefgh', 'abcdefgh-and-more']);
    expect(both.mask('x abcdefgh-and-more y abcdefgh z')).toBe('x *** y *** z');
  });

  it('1-3 character secrets are masked only where a whole value equals them; shorter than 8 warns once', () => {
    const { log, lines } = logger();
    const s = new Secrets({ STN_SECRET_PIN: '42', STN_SECRET_SHORT: 'abc123', STN_SECRET_LONG: SECRET }, undefined, { logger: log });
    expect(s.scrub({ a: '42', b: ' 42\n', c: 'answer 42', d: 'abc123 inside', e: `x${SECRET}` })).toEqual({
      a: '***',
      b: '***',
      c: 'answer 42',
      d: '*** inside',
      e: 'x***',
    });
    s.addCredentialEnv(['NOTHING_NEW']);
    s.scrub('again');
    const warned = lines.filter((l) => l.level === 40).map((l) => l.masked);
    expect(warned.sort()).toEqual(['secret PIN', 'secret SHORT']);
    expect(JSON.stringify(lines)).not.toContain('abc123');
    expect(JSON.stringify(lines)).not.toMatch(/"42"/);
  });

  it("masks the daemon's credential variables by name, and ::add-mask:: values per run only", () => {
    const s = new Secrets({ API_TOK: 'token-value-123456', PATHLIKE: '/usr/bin' }, undefined, { credentialEnv: ['API_TOK'] });
    expect(s.scrub('t=token-value-123456 p=/usr/bin')).toBe('t=*** p=/usr/bin');
    s.addRunMask('run-a', 'derived-value-987');
    expect(s.scrubRun('run-a', { out: 'see derived-value-987' })).toEqual({ out: 'see ***' });
    expect(s.scrubRun('run-b', { out: 'see derived-value-987' })).toEqual({ out: 'see derived-value-987' });
    expect(s.contains('run-a', `x ${b64('derived-value-987')}`)).toBe(true);
    expect(s.contains('run-b', 'derived-value-987')).toBe(false);
  });

  it('stays cheap: a small step output with 20 secrets is scrubbed in well under 0.1 ms (p50)', () => {
    const env: Record<string, string> = {};
    for (let i = 0; i < 20; i++) env[`STN_SECRET_S${i}`] = `secret-${i}-${'x'.repeat(24)}-${i * 7919}`;
    const s = new Secrets(env);
    const output = { exitCode: 0, stdout: 'deployed api to prod: 3 replicas ready\n', stderr: '', truncated: false };
    const times: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t0 = performance.now();
      s.scrub(output);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    expect(times[times.length >> 1]).toBeLessThan(0.05);
    // And a full 64 KiB log with the same secrets takes milliseconds, not seconds.
    const log = 'INFO request handled in 12ms by worker 7 with nothing secret in it\n'.repeat(1000).slice(0, 64 * 1024);
    const t0 = performance.now();
    s.scrub(log);
    expect(performance.now() - t0).toBeLessThan(200);
  });
});
