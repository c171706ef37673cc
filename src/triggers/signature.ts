import { createHmac, timingSafeEqual } from 'node:crypto';

/** Request headers as Node gives them: lower-cased names, a list when a header was repeated. */
export type RequestHeaders = Record<string, string | string[] | undefined>;

const HEX_DIGEST = /^[0-9a-f]{64}$/i;

/** The HMAC-SHA256 of the body as lower-case hex: what a sender puts in its signature header. */
export function signBody(rawBody: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

/**
 * Verifies an HMAC-SHA256 signature of the exact request bytes (DESIGN §6), shared by webhook triggers and the Git push
 * webhook. Accepted headers: `X-Hub-Signature-256: sha256=<hex>` (GitHub) or `X-Signature: <hex>` /
 * `X-Signature: sha256=<hex>` (generic senders). When both are present, GitHub's header decides. A repeated header,
 * a malformed value or an empty secret never verifies. The digests are compared in constant time.
 */
export function verifySignature(rawBody: Buffer, headers: RequestHeaders, secret: string): boolean {
  if (secret === '') return false;
  const github = headers['x-hub-signature-256'];
  const generic = headers['x-signature'];
  let provided: string | undefined;
  if (github !== undefined) {
    if (typeof github !== 'string' || !github.startsWith('sha256=')) return false;
    provided = github.slice('sha256='.length);
  } else if (generic !== undefined) {
    if (typeof generic !== 'string') return false;
    provided = generic.startsWith('sha256=') ? generic.slice('sha256='.length) : generic;
  }
  if (provided === undefined) return false;
  provided = provided.trim();
  if (!HEX_DIGEST.test(provided)) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  return timingSafeEqual(expected, Buffer.from(provided, 'hex'));
}

/** Whether the request carries a signature header at all (a missing one and a wrong one are logged differently). */
export function hasSignature(headers: RequestHeaders): boolean {
  return headers['x-hub-signature-256'] !== undefined || headers['x-signature'] !== undefined;
}
