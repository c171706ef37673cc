/**
 * Secret masking: one case-insensitive regular expression over every secret and the forms a step is likely to print
 * it in (JSON-escaped, URL-encoded, base64 at any alignment, hex, other letter case). One pass per string, whatever
 * the number of secrets, so scrubbing stays cheap on the engine's hot path.
 */

/** What every masked occurrence becomes. */
export const MASK = '***';
/** Secrets shorter than this are masked only where a whole string equals them (see `Masker`). */
export const MIN_MASKED_LENGTH = 4;
/** Secrets shorter than this get a warning: they are easy to guess, and their encoded forms are short. */
export const WEAK_SECRET_LENGTH = 8;
/** Encoded forms shorter than this are not masked on their own (a 4-letter base64 run occurs by chance). */
const MIN_VARIANT_LENGTH = 6;

/**
 * Masks a fixed set of secret values in text. Secrets of 4 or more characters are replaced wherever they occur, in
 * every form of `variantsOf`; secrets of 1 to 3 characters only where a whole (trimmed) string equals one: masking
 * every "a" or "42" of a log would destroy it and still not hide the value.
 */
export class Masker {
  private readonly pattern: RegExp | undefined;
  private readonly exact: ReadonlySet<string>;
  readonly size: number;

  constructor(values: Iterable<string>) {
    const variants = new Set<string>();
    const exact = new Set<string>();
    let size = 0;
    for (const v of values) {
      if (v === '') continue;
      size += 1;
      if (v.length < MIN_MASKED_LENGTH) exact.add(v);
      else for (const x of variantsOf(v)) variants.add(x);
    }
    this.size = size;
    this.exact = exact;
    // Longest first: at one position the alternation takes the first alternative that matches, so a secret that
    // contains another is replaced whole.
    const sorted = [...variants].sort((a, b) => b.length - a.length);
    this.pattern = sorted.length === 0 ? undefined : new RegExp(sorted.map(escapeRegExp).join('|'), 'gi');
  }

  get empty(): boolean {
    return this.size === 0;
  }

  /** `text` with every occurrence of a secret (in any of its forms) replaced by `***`. */
  mask(text: string): string {
    if (text === '') return text;
    if (this.exact.size > 0 && this.exact.has(text.trim())) return MASK;
    if (this.pattern === undefined) return text;
    this.pattern.lastIndex = 0;
    return this.pattern.test(text) ? text.replace(this.pattern, MASK) : text;
  }
}

/**
 * The forms of a secret that are masked (matched without regard to letter case, so upper- and lower-case variants and
 * upper-case hex are covered too): the value itself; JSON-escaped (once and twice, and with non-ASCII as \u escapes);
 * URL-encoded (percent and form encoding); base64 and base64url at the three alignments it can have inside a longer
 * encoded string (only the characters that depend on the secret alone, so it matches wherever the secret sits); hex.
 */
export function variantsOf(secret: string): string[] {
  const out = new Set<string>([secret]);
  const json = JSON.stringify(secret).slice(1, -1);
  out.add(json);
  out.add(JSON.stringify(json).slice(1, -1));
  out.add(json.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
  out.add(encodeURIComponent(secret));
  out.add(new URLSearchParams({ v: secret }).toString().slice(2));
  const bytes = Buffer.from(secret, 'utf8');
  for (const offset of [0, 1, 2]) {
    const b64 = Buffer.concat([Buffer.alloc(offset), bytes]).toString('base64');
    // Characters whose 6 bits all come from the secret's bytes: after the prefix's bits, before the unknown suffix.
    const core = b64.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + bytes.length)) / 6));
    if (core.length >= MIN_VARIANT_LENGTH) {
      out.add(core);
      out.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
    }
  }
  // Standalone base64 with its padding ("…==" right before a quote or the end) is the offset-0 core plus a tail.
  const full = bytes.toString('base64');
  if (full.length >= MIN_VARIANT_LENGTH) {
    out.add(full);
    out.add(full.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
  }
  out.add(bytes.toString('hex'));
  return [...out].filter((v) => v.length >= Math.min(MIN_VARIANT_LENGTH, secret.length));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** A JSON value with `masker` applied to every string in it, keys included. */
export function maskJson<T>(masker: Masker, value: T): T {
  return maskValue(masker, value) as T;
}

function maskValue(masker: Masker, value: unknown): unknown {
  if (typeof value === 'string') return masker.mask(value);
  if (Array.isArray(value)) return value.map((v) => maskValue(masker, v));
  if (value !== null && typeof value === 'object') {
    // Keys too: an executor's JSON output may be keyed by a value it was given.
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [masker.mask(k), maskValue(masker, v)]));
  }
  return value;
}
