import fs from 'node:fs';
import type { ExecResult } from '../executors/types.js';
import type { Logger } from '../log.js';
import { Masker, maskJson, WEAK_SECRET_LENGTH } from './masking.js';

/** Options of `Secrets` beyond the `STN_SECRET_*` variables and the secrets file. */
export interface SecretsOptions {
  /**
   * Names of the daemon's environment variables that hold credentials (API tokens, Slack tokens, webhook and Git
   * secrets, provider keys): never handed to templates, but masked in everything stored, like secrets.
   */
  credentialEnv?: Iterable<string>;
  /** Where the one-time warnings about short secrets go. */
  logger?: Logger;
}

/** Runs whose `::add-mask::` values are kept (oldest forgotten first), and values kept per run. */
const MAX_MASKED_RUNS = 1000;
const MAX_MASKS_PER_RUN = 200;

/**
 * Secrets for `{{ secrets.NAME }}` (docs/security.md): `STN_SECRET_<NAME>` variables of the daemon's environment, and a
 * `KEY=value` file outside the repository. Values are handed to executors only; everything stored, logged or
 * sent shows `***`, in the forms masking.ts lists. The daemon's own credentials are masked the same way.
 */
export class Secrets {
  readonly values: Readonly<Record<string, string>>;
  /** The same names with every value `***`: what templates see when rendering what gets stored. */
  readonly redacted: Readonly<Record<string, string>>;
  private masker: Masker;
  private readonly env: NodeJS.ProcessEnv;
  private readonly logger: Logger | undefined;
  private readonly credentialNames = new Set<string>();
  private readonly warned = new Set<string>();
  /** `::add-mask::` values by run: in memory only (never stored, so a restart forgets them; docs/security.md). */
  private readonly runMasks = new Map<string, { values: Set<string>; masker: Masker }>();

  constructor(env: NodeJS.ProcessEnv, file?: string, options: SecretsOptions = {}) {
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
    this.env = env;
    this.logger = options.logger;
    for (const name of options.credentialEnv ?? []) this.credentialNames.add(name);
    this.masker = this.buildMasker();
  }

  /** Adds credential variable names (webhook triggers' secretEnv, found at sync); rebuilds the masker if one is new. */
  addCredentialEnv(names: Iterable<string>): void {
    let added = false;
    for (const name of names) {
      if (this.credentialNames.has(name)) continue;
      this.credentialNames.add(name);
      added = true;
    }
    if (added) this.masker = this.buildMasker();
  }

  /** A secret's value by name (model provider API keys, MCP server env and headers): never stored or logged. */
  value(name: string): string | undefined {
    return Object.hasOwn(this.values, name) ? this.values[name] : undefined;
  }

  /** The names of `names` this process has no value for. */
  missing(names: readonly string[]): string[] {
    return names.filter((name) => !Object.hasOwn(this.values, name));
  }

  /** Replaces every secret value found in strings of a JSON value with `***` (executor output may echo one). */
  scrub<T>(value: T): T {
    if (this.masker.empty) return value;
    return maskJson(this.masker, value) as T;
  }

  /** Whether `text` holds a secret, a daemon credential or one of run `runId`'s `::add-mask::` values (in any masked form). */
  contains(runId: string, text: string): boolean {
    if (this.masker.mask(text) !== text) return true;
    const entry = this.runMasks.get(runId);
    return entry !== undefined && entry.masker.mask(text) !== text;
  }

  /**
   * Marks `value` as secret for the rest of run `runId` (a step's `::add-mask::` line): `scrubRun` masks it in this
   * and later steps' results. Kept in this process's memory only.
   */
  addRunMask(runId: string, value: string): void {
    if (value === '') return;
    let entry = this.runMasks.get(runId);
    if (entry?.values.has(value)) return;
    if (!entry) {
      if (this.runMasks.size >= MAX_MASKED_RUNS) {
        const oldest = this.runMasks.keys().next().value;
        if (oldest !== undefined) this.runMasks.delete(oldest);
      }
      entry = { values: new Set(), masker: new Masker([]) };
      this.runMasks.set(runId, entry);
    }
    if (entry.values.size >= MAX_MASKS_PER_RUN) return;
    this.warnIfWeak(value, `an ::add-mask:: value of run ${runId}`);
    entry.values.add(value);
    entry.masker = new Masker(entry.values);
  }

  /** `value` with the run's `::add-mask::` values masked (the daemon's secrets are masked by `scrub`). */
  scrubRun<T>(runId: string, value: T): T {
    const entry = this.runMasks.get(runId);
    if (!entry) return value;
    return maskJson(entry.masker, value) as T;
  }

  /** An executor's result with the run's `::add-mask::` values masked in its output, error message and details. */
  scrubResult(runId: string, result: ExecResult): ExecResult {
    if (!this.runMasks.has(runId)) return result;
    if (result.kind === 'ok') return { kind: 'ok', output: this.scrubRun(runId, result.output) };
    if (result.kind === 'error') {
      const { error } = result;
      return {
        kind: 'error',
        error: {
          ...error,
          message: this.scrubRun(runId, error.message),
          ...(error.details !== undefined ? { details: this.scrubRun(runId, error.details) } : {}),
        },
      };
    }
    return result;
  }

  /** Forgets a finished run's `::add-mask::` values. */
  forgetRun(runId: string): void {
    this.runMasks.delete(runId);
  }

  private buildMasker(): Masker {
    const all: string[] = [];
    for (const [name, v] of Object.entries(this.values)) {
      this.warnIfWeak(v, `secret ${name}`);
      all.push(v);
    }
    for (const name of this.credentialNames) {
      const v = this.env[name];
      if (v === undefined || v === '') continue;
      this.warnIfWeak(v, `credential variable ${name}`);
      all.push(v);
    }
    return new Masker(all);
  }

  private warnIfWeak(value: string, what: string): void {
    if (value === '' || value.length >= WEAK_SECRET_LENGTH || this.warned.has(what)) return;
    this.warned.add(what);
    this.logger?.warn(
      { masked: what, length: value.length },
      value.length < 4
        ? 'secret shorter than 4 characters: masked only where a whole value equals it; use a longer secret'
        : 'secret shorter than 8 characters: it is masked, but short values are easy to guess; use a longer secret',
    );
  }
}

function unquote(v: string): string {
  return (v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'")) ? v.slice(1, -1) : v;
}
