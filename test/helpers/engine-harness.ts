import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openStation, type EngineOverrides, type Station } from '../../src/context.js';
import type { Engine } from '../../src/engine/engine.js';
import type { RunEvent } from '../../src/engine/events.js';
import { Scopes } from '../../src/engine/scopes.js';
import type { JsonValue } from '../../src/definitions/types.js';
import { TERMINAL_RUN, type EventRow, type RunRow, type StepRow } from '../../src/store/runs.js';
import type { SyncReport } from '../../src/sync/sync.js';
import { pollUntil } from './procs.js';

/**
 * Engine tests on real things: a temp repository folder with workflow files written by the test, a real SQLite file,
 * a Station opened on them and its engine running in-process. Tests await committed run events, never sleep-and-hope.
 */

/** A clock the test moves by hand (the engine compares task due times with it). */
export interface FakeClock {
  t: number;
  now(): number;
}

/** 2030-01-01T00:00:00Z: far from "now", so a test that leaks the real clock shows. */
export const FAKE_EPOCH = Date.UTC(2030, 0, 1);

export function fakeClock(start = FAKE_EPOCH): FakeClock {
  const clock: FakeClock = {
    t: start,
    now: () => clock.t,
  };
  return clock;
}

export interface HarnessOptions {
  /** The process environment handed to openStation (STN_SECRET_* go here). Default: none. */
  env?: NodeJS.ProcessEnv;
  /** Engine options; defaults: concurrency 8, pollMs 10, leaseMs 30 000. */
  engine?: EngineOverrides;
  /** false: create the engine (so the runs service shares its clock) but do not start it. Default true. */
  startEngine?: boolean;
}

/** A step row with its JSON columns parsed. */
export interface StepView extends Omit<StepRow, 'input' | 'output' | 'error' | 'wait' | 'items'> {
  input: unknown;
  output: unknown;
  error: { code: string; message: string; [k: string]: unknown } | null;
  wait: unknown;
}

/** An event row with its data parsed. */
export interface EventView {
  seq: number;
  type: string;
  stepId: string | null;
  data: Record<string, unknown>;
}

/** What a test looks at once a run has ended (or at any point). */
export interface RunResult {
  run: RunRow;
  status: RunRow['status'];
  output: unknown;
  error: { code: string; message: string; [k: string]: unknown } | null;
  steps: StepView[];
  events: EventView[];
  /** The one non-compensation step at this path (`name`, `par/a/x`, `loop[1]/work`); throws if there is none. */
  step(pathOrName: string): StepView;
  /** The run's root context as the engine sees it (rebuilt from the stored patches). */
  context: Record<string, unknown>;
}

/** A committed run event with its data as a plain record, so predicates can test any field. */
export type SeenEvent = Omit<RunEvent, 'data'> & { data: Record<string, unknown> };

type Predicate = (e: SeenEvent) => boolean;

/** Strips the common indentation of a template literal (YAML written inline in tests). */
export function dedent(text: string): string {
  const lines = text.replace(/^\n/, '').split('\n');
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)?.[0].length ?? 0);
  const cut = indents.length > 0 ? Math.min(...indents) : 0;
  return `${lines.map((l) => l.slice(cut)).join('\n').trimEnd()}\n`;
}

function parse(text: string | null): unknown {
  return text === null ? null : (JSON.parse(text) as unknown);
}

function toEvent(row: EventRow): SeenEvent {
  return {
    runId: row.run_id,
    seq: row.seq,
    type: row.type as RunEvent['type'],
    stepId: row.step_id,
    data: (parse(row.data) ?? {}) as Record<string, unknown>,
    at: row.created_at,
  };
}

function seen(e: RunEvent): SeenEvent {
  return { ...e, data: e.data as Record<string, unknown> };
}

export class EngineHarness {
  readonly dir: string;
  readonly dbFile: string;
  readonly station: Station;
  readonly engine: Engine;
  /** Other Station instances on the same database (the "second process"). */
  readonly others: Array<{ station: Station; engine: Engine }> = [];
  private closed = false;
  private barrierDefined = false;

  private constructor(private readonly options: HarnessOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-engine-'));
    this.dbFile = path.join(this.dir, '.station', 'station.db');
    fs.mkdirSync(path.join(this.dir, 'environments', 'default', 'workflows'), { recursive: true });
    this.station = this.open();
    this.engine = this.station.engine(this.engineOptions());
    if (options.startEngine !== false) this.engine.start();
  }

  /** A fresh temp repo with an empty `default` environment, a Station on it, its engine started (unless told not to). */
  static create(options: HarnessOptions = {}): EngineHarness {
    return new EngineHarness(options);
  }

  private open(): Station {
    return openStation({ repo: this.dir, db: this.dbFile, logLevel: 'silent' }, this.options.env ?? {});
  }

  private engineOptions(): EngineOverrides {
    return { concurrency: 8, pollMs: 10, leaseMs: 30_000, ...this.options.engine };
  }

  /** Opens another Station on the same repo and database with its own engine (started), like a second daemon. */
  openAnother(engine: EngineOverrides = {}): { station: Station; engine: Engine } {
    const station = this.open();
    const e = station.engine({ ...this.engineOptions(), ...engine });
    e.start();
    const other = { station, engine: e };
    this.others.push(other);
    return other;
  }

  // ------------------------------------------------------------------ repository

  /** Writes a file of the repo (path relative to it, with /). */
  writeFile(rel: string, content: string): string {
    const abs = path.join(this.dir, ...rel.split('/'));
    fs.mkdirSync(path.dirname(abs), { recursive: true });
    fs.writeFileSync(abs, content);
    return abs;
  }

  /** Writes `environments/<env>/workflows/<id>.workflow.yaml` (the YAML is dedented). */
  writeWorkflow(id: string, yaml: string, env = 'default'): void {
    this.writeFile(`environments/${env}/workflows/${id}.workflow.yaml`, dedent(yaml));
  }

  /** Writes `environments/<env>/environment.yaml`. */
  writeEnvironment(yaml: string, env = 'default'): void {
    this.writeFile(`environments/${env}/environment.yaml`, dedent(yaml));
  }

  /** A path inside the temp folder for files the workflows write (pid files, markers). */
  file(name: string): string {
    return path.join(this.dir, name);
  }

  /** Syncs the repo; fails the test if any file is invalid. */
  async sync(): Promise<SyncReport> {
    const report = await this.station.syncer.sync();
    const problems = report.environments.flatMap((e) => [
      ...(e.error ? [`${e.name}: ${e.error.message}`] : []),
      ...e.invalid.map((i) => `${i.path}: ${i.errors.map((d) => d.message).join('; ')}`),
    ]);
    if (problems.length > 0) throw new Error(`sync found invalid files:\n${problems.join('\n')}`);
    return report;
  }

  /** Writes one workflow and syncs. */
  async define(id: string, yaml: string, env = 'default'): Promise<void> {
    this.writeWorkflow(id, yaml, env);
    await this.sync();
  }

  // ------------------------------------------------------------------ runs

  /** Starts a run; returns its id. */
  start(workflowId: string, input: JsonValue = {}): string {
    return this.station.runs.start({ workflowId, input }).run.id;
  }

  /**
   * The first event of a run matching the predicate: already committed (read from the database), or the next one
   * published by any engine of this harness. Listens before it looks, so nothing falls in between.
   */
  waitFor(runId: string, match: string | Predicate, timeoutMs = 20_000): Promise<SeenEvent> {
    const pred: Predicate = typeof match === 'string' ? (e) => e.type === match : match;
    const mine = (e: SeenEvent) => e.runId === runId && pred(e);
    return new Promise((resolve, reject) => {
      const offs: Array<() => void> = [];
      const done = (fn: () => void) => {
        clearTimeout(timer);
        for (const off of offs) off();
        fn();
      };
      const timer = setTimeout(() => {
        const seen = this.station.runStore.events(runId).map((e) => `${e.seq} ${e.type}`);
        done(() => reject(new Error(`run ${runId}: no matching event within ${timeoutMs} ms; events so far:\n${seen.join('\n')}`)));
      }, timeoutMs);
      for (const s of [this.station, ...this.others.map((o) => o.station)]) {
        offs.push(
          s.events.on((raw) => {
            const e = seen(raw);
            if (mine(e)) done(() => resolve(e));
          }),
        );
      }
      const already = this.station.runStore.events(runId).map(toEvent).find(mine);
      if (already) done(() => resolve(already));
    });
  }

  /** Waits until the run has ended (any terminal status) and returns everything about it. */
  async waitForEnd(runId: string, timeoutMs = 20_000): Promise<RunResult> {
    await this.waitFor(runId, (e) => ['run:completed', 'run:failed', 'run:cancelled', 'run:timed_out'].includes(e.type), timeoutMs);
    return this.result(runId);
  }

  /** Starts a run and waits for its end. */
  async run(workflowId: string, input: JsonValue = {}, timeoutMs = 20_000): Promise<RunResult> {
    return this.waitForEnd(this.start(workflowId, input), timeoutMs);
  }

  /** Everything stored about a run, parsed. */
  result(runId: string): RunResult {
    const store = this.station.runStore;
    const run = store.run(runId);
    if (!run) throw new Error(`no run ${runId}`);
    const steps: StepView[] = store.steps(runId).map((s) => ({
      ...s,
      input: parse(s.input),
      output: parse(s.output),
      error: parse(s.error) as StepView['error'],
      wait: parse(s.wait),
    }));
    const events: EventView[] = store.events(runId).map((e) => ({
      seq: e.seq,
      type: e.type,
      stepId: e.step_id,
      data: (parse(e.data) ?? {}) as Record<string, unknown>,
    }));
    const context = new Scopes(store).scope(run, 0);
    return {
      run,
      status: run.status,
      output: parse(run.output),
      error: parse(run.error) as RunResult['error'],
      steps,
      events,
      context,
      step(p: string): StepView {
        // A path names one step; a state name may be shared by nested scopes (a foreach and the state inside it).
        const byPath = steps.filter((s) => s.compensation_of === null && s.path === p);
        const found = byPath.length > 0 ? byPath : steps.filter((s) => s.compensation_of === null && s.state_name === p);
        if (found.length !== 1) {
          throw new Error(`expected one step "${p}", found ${found.length}; steps: ${steps.map((s) => s.path).join(', ')}`);
        }
        return found[0] as StepView;
      },
    };
  }

  /**
   * Runs a one-step noop workflow to its end. Tasks are claimed in due-time order, so once this run has ended every
   * task that was due before it has been claimed: a step that has not started by then was not due (a deterministic
   * "nothing happened" check, instead of sleeping).
   */
  async barrier(): Promise<void> {
    if (!this.barrierDefined) {
      this.writeWorkflow('zz-barrier', `
        id: zz-barrier
        version: "1"
        name: Barrier
        states:
          - {name: pass, type: operation, action: noop, end: true}
      `);
      await this.sync();
      this.barrierDefined = true;
    }
    const r = await this.run('zz-barrier');
    if (r.status !== 'COMPLETED') throw new Error(`barrier run ended ${r.status}`);
  }

  /** The run row now. */
  runRow(runId: string): RunRow {
    const run = this.station.runStore.run(runId);
    if (!run) throw new Error(`no run ${runId}`);
    return run;
  }

  isTerminal(runId: string): boolean {
    return TERMINAL_RUN.has(this.runRow(runId).status);
  }

  /** Moves a fake clock forward and wakes every engine. */
  advance(clock: FakeClock, ms: number): void {
    clock.t += ms;
    this.poke();
  }

  poke(): void {
    this.engine.poke();
    for (const o of this.others) o.engine.poke();
  }

  /** Every row of every table, as one string: for "this value is stored nowhere" checks. */
  dumpDatabase(): string {
    const db = this.station.db;
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    return JSON.stringify(Object.fromEntries(tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}"`).all()])));
  }

  /** Every `table.column` of the database holding a value that contains `text` (a secret must be in none). */
  locate(text: string): string[] {
    const db = this.station.db;
    const found = new Set<string>();
    for (const t of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[]) {
      for (const row of db.prepare(`SELECT * FROM "${t}"`).all() as Array<Record<string, unknown>>) {
        for (const [column, value] of Object.entries(row)) {
          const shown = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
          if (shown.includes(text)) found.add(`${t}.${column}`);
        }
      }
    }
    return [...found];
  }

  /** Stops the engines, closes every Station and removes the temp folder. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [{ station: this.station, engine: this.engine }, ...this.others];
    await Promise.all(all.map((o) => o.engine.stop(1000)));
    for (const o of all) await o.station.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** True while a process exists and is not a zombie (PID 1 here does not reap orphans: Z counts as gone). */
export function processAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // "pid (comm) S ...": the state follows the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** Polls a condition about the outside world (a process, a file) until it holds or the time runs out. */
export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  await pollUntil(what, () => (check() ? true : undefined), timeoutMs, 25);
}

/** Reads a pid written by a workflow's shell step, waiting until the file has it. */
export async function readPid(file: string, timeoutMs = 5000): Promise<number> {
  let pid = NaN;
  await eventually(() => {
    try {
      pid = Number(fs.readFileSync(file, 'utf8').trim());
    } catch {
      return false;
    }
    return Number.isInteger(pid) && pid > 0;
  }, timeoutMs, `pid file ${file}`);
  return pid;
}
