import type { FrameRow, RunRow } from '../../store/runs.js';
import { getPath, overlay, pathSegments } from '../paths.js';
import type { UnitOfWork } from './unit.js';
import type { InterpreterDeps, Obj } from './types.js';
import { objectColumn } from '../../store/run-rows.js';

/**
 * What expressions in a scope see: the context through every enclosing scope, the loop variables of the enclosing
 * foreach iterations, plus the run's `input`, `run`, `vars` and `secrets`.
 */
export class Variables {
  /** `input`, `run` and `vars`, parsed once per transaction. */
  private runVars: Obj | undefined;

  constructor(
    private readonly d: InterpreterDeps,
    private readonly run: RunRow,
    private readonly unit: UnitOfWork,
    /** Station-compatible run semantics (`compat: station`): results under `steps.` are stored as records. */
    private readonly compat = false,
  ) {}

  /**
   * The pieces of what a scope sees, apart: its context view (every enclosing scope overlaid), its loop variables
   * (every enclosing foreach iteration's, the innermost winning) and the run's `input`, `run` and `vars`.
   */
  parts(frame: FrameRow): { ctx: Obj; loopVars: Obj; runVars: Obj } {
    const chain: FrameRow[] = [];
    for (let f: FrameRow | undefined = frame; f; f = f.parent_id === null ? undefined : this.unit.frame(f.parent_id)) chain.unshift(f);
    let view: unknown = {};
    const loopVars: Obj = {};
    for (const f of chain) {
      view = overlay(view, this.d.scopes.scope(this.run, f.id));
      if (f.vars) Object.assign(loopVars, objectColumn(f.vars));
    }
    this.runVars ??= {
      input: this.d.json.parse(`${this.run.id}\0input`, this.run.input),
      run: {
        id: this.run.id,
        workflowId: this.run.workflow_id,
        version: this.run.version,
        environment: this.run.environment,
        trigger: objectColumn(this.run.trigger),
        startedAt: this.run.started_at ?? this.unit.nowIso,
      },
      vars: objectColumn(this.run.vars),
    };
    return { ctx: view as Obj, loopVars, runVars: this.runVars };
  }

  of(frame: FrameRow, extra: Obj = {}, redacted = false): Obj {
    const { ctx, loopVars, runVars } = this.parts(frame);
    return {
      ...ctx,
      ...loopVars,
      ctx,
      ...runVars,
      secrets: redacted ? this.d.secrets.redacted : this.d.secrets.values,
      ...extra,
    };
  }

  /**
   * Reads `dataPath`/`itemsPath`: a context path, where the run's other variables are reachable too
   * (`input.hosts`, `vars.targets`, `item.children` inside a foreach).
   */
  readPath(frame: FrameRow, path: string): unknown {
    return getPath(this.of(frame), pathSegments(path));
  }

  /** Sets a context path in a scope (the fallback when the state names none). */
  write(frameId: number, path: string | undefined, value: unknown, fallback: string): void {
    const segments = pathSegments(path ?? fallback);
    this.run.patch_seq++;
    const stored = this.compat && segments.length >= 2 && segments[0] === 'steps' ? stepRecord(value) : value;
    this.d.scopes.write(this.run, frameId, segments, 'set', stored, this.unit.patch);
  }

  /** Merges an object into a scope's root (inject without resultPath). */
  merge(frameId: number, value: unknown): void {
    this.run.patch_seq++;
    this.d.scopes.write(this.run, frameId, [], 'merge', value, this.unit.patch);
  }
}

/**
 * Station reads a step's result both as `steps.<id>.output` and directly (`steps.<id>.summary`): in compat mode a
 * result written under `steps.` is the record `{...O, output: O}` (or `{output: O}` when O is not an object).
 */
function stepRecord(value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return { ...(value as Obj), output: value };
  return { output: value };
}
