import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hasSignature, signBody, verifySignature } from '../../src/triggers/signature.js';

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
