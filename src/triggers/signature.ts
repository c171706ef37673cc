import { createHmac, timingSafeEqual } from 'node:crypto';

/** Request headers as Node gives them: lower-cased names, a list when a header was repeated. */
export type RequestHeaders = Record<string, string | string[] | undefined>;

const HEX_DIGEST = /^[0-9a-f]{64}$/i;

/** The HMAC-SHA256 of the body as lower-case hex: what a sender puts in its signature header. */
export function signBody(rawBody: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

/**
 * Verifies an HMAC-SHA256 signature of the exact request bytes (docs/security.md "Webhooks"), shared by webhook
 * triggers and the Git push webhook. Accepted headers: `X-Hub-Signature-256: sha256=<hex>` (GitHub) or
 * `X-Signature: <hex>` / `X-Signature: sha256=<hex>` (generic senders). When both are present, GitHub's header
 * decides. A repeated header, a malformed value or an empty secret never verifies. The digests are compared in
 * constant time.
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
  return headers['x-hub-signature-256'] !== undefined || headers['x-signature'] !== undefined || headers[STATION_SIGNATURE_HEADER] !== undefined;
}

/** The timestamped scheme's header (README "Webhooks"): `X-Station-Signature: t=<unix seconds>,v1=<hex>`. */
export const STATION_SIGNATURE_HEADER = 'x-station-signature';
/** How far a timestamped signature's `t` may be from the server's clock, either way, in seconds. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

/**
 * The exact bytes the timestamped scheme signs: the ASCII decimal `t`, a `.`, the request path and query exactly as
 * received (e.g. `/api/v1/hooks/prod/deploy/github?x=1`), a `.`, then the raw body bytes. Binding the path means a
 * body signed for one trigger is refused by every other, even one sharing the secret.
 */
export function timestampedPayload(t: string, path: string, rawBody: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${t}.${path}.`, 'utf8'), rawBody]);
}

/** The `X-Station-Signature` value a sender puts on a request at unix time `t` (tests and the README's example). */
export function signTimestamped(rawBody: Buffer | string, path: string, secret: string, t: number): string {
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody;
  const v1 = createHmac('sha256', secret).update(timestampedPayload(String(t), path, body)).digest('hex');
  return `t=${t},v1=${v1}`;
}

/** A verified timestamped signature: its `t` (the caller checks it against its clock) and the matching digest. */
export interface TimestampedSignature {
  t: number;
  /** Lower-case hex of the matching `v1`: one signed request, used as its replay key. */
  digest: string;
}

/**
 * Verifies `X-Station-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]` against each secret (current and previous during a
 * rotation): any `v1` matching any secret verifies. Unknown keys are ignored (later schemes); a repeated header, a
 * missing or non-integer `t`, or no well-formed `v1` never verifies. Digests are compared in constant time.
 */
export function verifyTimestamped(header: string | string[] | undefined, path: string, rawBody: Buffer, secrets: readonly string[]): TimestampedSignature | undefined {
  if (typeof header !== 'string') return undefined;
  let t: string | undefined;
  const digests: Buffer[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') {
      if (t !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      t = value;
    } else if (key === 'v1' && HEX_DIGEST.test(value)) {
      digests.push(Buffer.from(value, 'hex'));
    }
  }
  if (t === undefined || digests.length === 0) return undefined;
  const payload = timestampedPayload(t, path, rawBody);
  for (const secret of secrets) {
    if (secret === '') continue;
    const expected = createHmac('sha256', secret).update(payload).digest();
    for (const d of digests) if (timingSafeEqual(expected, d)) return { t: Number(t), digest: d.toString('hex') };
  }
  return undefined;
}
