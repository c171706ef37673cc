import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hasSignature, signBody, signTimestamped, verifySignature, verifyTimestamped } from '../../src/triggers/signature.js';

const SECRET = 's3cr3t-value';
const BODY = Buffer.from('{"alert":"disk full","n":1}');
const HEX = createHmac('sha256', SECRET).update(BODY).digest('hex');

describe('verifySignature', () => {
  it('accepts GitHub style X-Hub-Signature-256: sha256=<hex>', () => {
    expect(verifySignature(BODY, { 'x-hub-signature-256': `sha256=${HEX}` }, SECRET)).toBe(true);
  });

  it('accepts X-Signature with or without the sha256= prefix, in either hex case', () => {
    expect(verifySignature(BODY, { 'x-signature': HEX }, SECRET)).toBe(true);
    expect(verifySignature(BODY, { 'x-signature': `sha256=${HEX}` }, SECRET)).toBe(true);
    expect(verifySignature(BODY, { 'x-signature': HEX.toUpperCase() }, SECRET)).toBe(true);
  });

  it('signBody computes what a sender puts in the header', () => {
    expect(signBody(BODY, SECRET)).toBe(HEX);
  });

  it('refuses a signature made with another secret or over other bytes', () => {
    expect(verifySignature(BODY, { 'x-hub-signature-256': `sha256=${signBody(BODY, 'other')}` }, SECRET)).toBe(false);
    const reformatted = Buffer.from('{"alert": "disk full", "n": 1}');
    expect(verifySignature(reformatted, { 'x-hub-signature-256': `sha256=${HEX}` }, SECRET)).toBe(false);
  });

  it('refuses missing, malformed, truncated and repeated headers', () => {
    expect(verifySignature(BODY, {}, SECRET)).toBe(false);
    expect(verifySignature(BODY, { 'x-hub-signature-256': HEX }, SECRET)).toBe(false); // GitHub's needs the prefix
    expect(verifySignature(BODY, { 'x-hub-signature-256': `sha1=${HEX}` }, SECRET)).toBe(false);
    expect(verifySignature(BODY, { 'x-signature': HEX.slice(0, 62) }, SECRET)).toBe(false);
    expect(verifySignature(BODY, { 'x-signature': `${HEX.slice(0, 63)}z` }, SECRET)).toBe(false);
    expect(verifySignature(BODY, { 'x-signature': [HEX, HEX] }, SECRET)).toBe(false);
  });

  it("lets GitHub's header decide when both are present", () => {
    const wrong = signBody(BODY, 'other');
    expect(verifySignature(BODY, { 'x-hub-signature-256': `sha256=${wrong}`, 'x-signature': HEX }, SECRET)).toBe(false);
    expect(verifySignature(BODY, { 'x-hub-signature-256': `sha256=${HEX}`, 'x-signature': wrong }, SECRET)).toBe(true);
  });

  it('never verifies with an empty secret', () => {
    expect(verifySignature(BODY, { 'x-signature': signBody(BODY, '') }, '')).toBe(false);
  });

  it('hasSignature tells a missing signature from a wrong one', () => {
    expect(hasSignature({})).toBe(false);
    expect(hasSignature({ 'x-signature': 'nope' })).toBe(true);
    expect(hasSignature({ 'x-hub-signature-256': 'nope' })).toBe(true);
  });
});

describe('verifyTimestamped (X-Station-Signature)', () => {
  const PATH = '/api/v1/hooks/default/deploy/github';

  it('signs exactly "<t>.<path>.<body>" and verifies with the current or the previous secret', () => {
    const expected = createHmac('sha256', SECRET).update(`1764750000.${PATH}.${BODY.toString()}`).digest('hex');
    expect(signTimestamped(BODY, PATH, SECRET, 1764750000)).toBe(`t=1764750000,v1=${expected}`);
    expect(verifyTimestamped(`t=1764750000,v1=${expected}`, PATH, BODY, [SECRET])).toEqual({ t: 1764750000, digest: expected });
    expect(verifyTimestamped(`t=1764750000,v1=${expected}`, PATH, BODY, ['new-secret', SECRET])?.t).toBe(1764750000);
    // Extra v1 values (a sender mid-rotation) and unknown keys are fine; spaces after commas too.
    expect(verifyTimestamped(`t=1764750000, v0=abc, v1=${'0'.repeat(64)}, v1=${expected}`, PATH, BODY, [SECRET])).toBeDefined();
  });

  it('refuses another path, body, timestamp or secret, and malformed or repeated headers', () => {
    const header = signTimestamped(BODY, PATH, SECRET, 1764750000);
    expect(verifyTimestamped(header, '/api/v1/hooks/default/other/github', BODY, [SECRET])).toBeUndefined();
    expect(verifyTimestamped(header, `${PATH}?x=1`, BODY, [SECRET])).toBeUndefined();
    expect(verifyTimestamped(header, PATH, Buffer.from(`${BODY.toString()} `), [SECRET])).toBeUndefined();
    expect(verifyTimestamped(header.replace('t=1764750000', 't=1764750001'), PATH, BODY, [SECRET])).toBeUndefined();
    expect(verifyTimestamped(header, PATH, BODY, ['other', ''])).toBeUndefined();
    for (const bad of ['', 'v1=abc', `t=x,${header.split(',')[1] ?? ''}`, `t=1,t=1764750000,${header.split(',')[1] ?? ''}`, 't=1764750000']) {
      expect(verifyTimestamped(bad, PATH, BODY, [SECRET]), bad).toBeUndefined();
    }
    expect(verifyTimestamped([header, header], PATH, BODY, [SECRET])).toBeUndefined();
    expect(hasSignature({ 'x-station-signature': header })).toBe(true);
  });
});
