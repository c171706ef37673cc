import fs from 'node:fs';

/**
 * Secrets for `{{ secrets.NAME }}` (DESIGN §3.3): `STN_SECRET_<NAME>` variables of the daemon's environment, and a
 * `KEY=value` file outside the repository. Values are handed to executors only; everything stored, logged or
 * sent shows `***`.
 */
export class Secrets {
  readonly values: Readonly<Record<string, string>>;
  /** The same names with every value `***`: what templates see when rendering what gets stored. */
  readonly redacted: Readonly<Record<string, string>>;
  private readonly scrubList: string[];

  constructor(env: NodeJS.ProcessEnv, file?: string) {
    const values: Record<string, string> = Object.create(null) as Record<string, string>;
    if (file) {
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
        if (m?.[1] && !line.trimStart().startsWith('#')) values[m[1]] = unquote(m[2] ?? '');
      }
    }
    for (const [k, v] of Object.entries(env)) {
      if (k.startsWith('STN_SECRET_') && v !== undefined) values[k.slice('STN_SECRET_'.length)] = v;
    }
    this.values = values;
    this.redacted = Object.fromEntries(Object.keys(values).map((k) => [k, '***']));
    // Longest first, so a secret containing another is replaced whole.
    this.scrubList = Object.values(values).filter((v) => v.length >= 4).sort((a, b) => b.length - a.length);
  }

  /** Replaces every secret value found in strings of a JSON value with `***` (executor output may echo one). */
  scrub<T>(value: T): T {
    if (this.scrubList.length === 0) return value;
    return this.scrubValue(value) as T;
  }

  private scrubValue(value: unknown): unknown {
    if (typeof value === 'string') {
      let out = value;
      for (const s of this.scrubList) if (out.includes(s)) out = out.split(s).join('***');
      return out;
    }
    if (Array.isArray(value)) return value.map((v) => this.scrubValue(v));
    if (value !== null && typeof value === 'object') {
      // Keys too: an executor's JSON output may be keyed by a value it was given.
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [this.scrubValue(k) as string, this.scrubValue(v)]));
    }
    return value;
  }
}

function unquote(v: string): string {
  return (v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")) ? v.slice(1, -1) : v;
}
