import type { JsonValue, TransformState } from '../../../definitions/types.js';
import { ExpressionError } from '../../../expressions/index.js';
import { compileStarlark, evaluateStarlark, StarlarkSyntaxError } from '../../../expressions/starlark/index.js';
import type { FrameRow, StepRow } from '../../../store/runs.js';
import { previousOutput } from '../previous.js';
import type { RunTx } from '../run-tx.js';
import { StateError, type Obj } from '../types.js';

/**
 * transform: evaluates its Starlark expression inline, over the previous output (`input`) and the context (`ctx`).
 * A dict result is the output; anything else is `{result: v}`. The output is written at resultPath (default
 * `steps.<name>`), never merged into the scope root.
 */
export function enterTransform(tx: RunTx, frame: FrameRow, state: TransformState, step: StepRow): void {
  let value: JsonValue;
  try {
    value = evaluateStarlark(compileStarlark(state.expression), transformGlobals(tx, frame));
  } catch (err) {
    // Checked at sync; a definition stored by an older Station could still hold a bad one.
    if (err instanceof StarlarkSyntaxError) throw new StateError('STN_E_EXPR_SYNTAX', `state "${state.name}", line ${err.line}: ${err.reason}`);
    if (err instanceof ExpressionError) throw new StateError(err.code, `state "${state.name}", ${err.message}`);
    throw err;
  }
  const output = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : { result: value };
  tx.vars.write(frame.id, state.resultPath, output, `steps.${state.name}`);
  tx.succeed(step, output);
  tx.after(frame, state);
}

/**
 * What a transform sees: `input` (the previous output), `ctx` (the context, with `workflow.input`, `_timestamp` and
 * `_cronTriggeredAt`), every top-level context key as a name of its own (`-` and `.` read `_`), the loop variables,
 * `run` and `vars`. Never `secrets`: the result is stored, so the context it reads is the redacted one.
 */
function transformGlobals(tx: RunTx, frame: FrameRow): Obj {
  const { ctx, loopVars, runVars } = tx.vars.parts(frame);
  const run = runVars.run as Obj & { trigger: Obj; startedAt: string };
  const globals: Obj = {};
  for (const [key, value] of Object.entries(ctx)) globals[key.replace(/[-.]/g, '_')] = value;
  // Station also keeps each step's result at the top level under its state id.
  const steps = ctx.steps;
  if (tx.spec.compat === 'station' && steps !== null && typeof steps === 'object' && !Array.isArray(steps)) {
    for (const [key, value] of Object.entries(steps as Obj)) if (!(key in globals)) globals[key] = value;
  }
  Object.assign(globals, loopVars);
  const scheduledAt = run.trigger.scheduledAt;
  globals.ctx = {
    ...ctx,
    workflow: ctx.workflow ?? { input: runVars.input },
    _timestamp: tx.nowIso,
    _cronTriggeredAt: typeof scheduledAt === 'string' ? scheduledAt : run.startedAt,
  };
  globals.input = previousOutput(tx, frame);
  globals.run = run;
  globals.vars = runVars.vars;
  return globals;
}
