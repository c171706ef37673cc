import type { ASTNode } from '@marcbachmann/cel-js';
import { childrenOf, comprehensionOf, metaOf, type Evaluate } from './ast.js';
import { expressionLimits, SIZE_PER_UNIT, type ExpressionLimits } from './limits.js';

/*
 * The run-time cost budget of CEL evaluation (docs/security.md). The library has no cost accounting, so the parsed
 * AST is instrumented once, when an expression is compiled: the few nodes where work can grow with the data get a
 * wrapper that charges the meter of the evaluation in progress.
 *
 * - A comprehension's step (one iteration of `all`, `exists`, `map`, `filter`…) costs the number of nodes in it, so
 *   nested loops multiply and are stopped by the budget, not by the clock.
 * - Values handed to a call, to `in` or to `==`/`!=`, and the iterable of a comprehension, cost their size / 10.
 * - Results of `+` and of calls cost their size / 10, and may not be longer than maxStringLength / maxListLength:
 *   string doubling stops at the limit instead of allocating gigabytes.
 *
 * Outside comprehensions every node runs at most once, so the AST size (bounded by the parser) bounds the rest.
 * Cost units are deterministic: a restart re-evaluating the same expression on the same context fails the same way.
 * The clock (maxMillis) is checked every TIME_CHECK_EVERY units as a second guard only, counted from the first check
 * (the first few hundred units are not timed).
 */

const TIME_CHECK_EVERY = 512;

/** Thrown inside the library to unwind an evaluation that went over its budget; cel.ts turns it into an error. */
export class BudgetExceeded extends Error {}

/** The running cost of one evaluation (one switch, or one rendering of a templated value). */
export class Meter {
  cost = 0;
  /** Why the budget was exceeded; once set, every further charge stops the evaluation again. */
  exceeded: string | undefined;
  /** Thrown again by every charge after the first: unwinding must stay cheap (no new stack trace each time). */
  private stop: BudgetExceeded | undefined;
  private nextTimeCheck = TIME_CHECK_EVERY;
  /** Set at the first clock check: evaluations too small to reach one never read the clock. */
  private started = -1;

  /** Variables already converted for the library in this evaluation (see conversionsOf). */
  private converted: { vars: object; values: Map<string, unknown> } | undefined;

  constructor(readonly limits: ExpressionLimits = expressionLimits()) {}

  /**
   * The variables of `vars` already converted into the library's values by an earlier expression sharing this meter
   * (the `{{ }}` of one template, the conditions of one switch all read the same variables): a context is converted
   * once per evaluation, not once per expression. Library values are never mutated by evaluation, so sharing is safe.
   */
  conversionsOf(vars: object): Map<string, unknown> {
    if (this.converted?.vars !== vars) this.converted = { vars, values: new Map() };
    return this.converted.values;
  }

  /** Adds `units`; `building` names the value being built, for the message when it is the last straw. */
  charge(units: number, building?: string): void {
    if (this.stop) throw this.stop;
    this.cost += units;
    if (this.cost > this.limits.maxCost) {
      this.exceed(`it went over its cost budget of ${fmt(this.limits.maxCost)} units${building ? ` while building ${building}` : ''}`);
    }
    if (this.cost >= this.nextTimeCheck) {
      this.nextTimeCheck = this.cost + TIME_CHECK_EVERY;
      const now = performance.now();
      if (this.started < 0) this.started = now;
      const ms = now - this.started;
      if (ms > this.limits.maxMillis) this.exceed(`it ran for over ${this.limits.maxMillis} ms`);
    }
  }

  /** Charges for a value's size. */
  sized(value: unknown, building?: boolean): void {
    const n = sizeOf(value);
    if (n < SIZE_PER_UNIT) return;
    this.charge(Math.floor(n / SIZE_PER_UNIT), building ? describe(value, n) : undefined);
  }

  /** Checks a value an operator or function built against the size limits, then charges for its size. */
  grown(value: unknown): void {
    if (typeof value === 'string') {
      if (value.length > this.limits.maxStringLength) {
        this.exceed(`it built ${describe(value, value.length)}, over the limit of ${fmt(this.limits.maxStringLength)}`);
      }
    } else if (Array.isArray(value) && value.length > this.limits.maxListLength) {
      this.exceed(`it built ${describe(value, value.length)}, over the limit of ${fmt(this.limits.maxListLength)}`);
    }
    this.sized(value, true);
  }

  private exceed(reason: string): never {
    this.exceeded = reason;
    this.stop = new BudgetExceeded(reason);
    throw this.stop;
  }
}

/** The meter of the evaluation in progress. Evaluation is synchronous, so one slot is enough. */
let active: Meter | undefined;

/** Runs `fn` with `meter` charged by instrumented nodes. */
export function metered<T>(meter: Meter, fn: () => T): T {
  const outer = active;
  active = meter;
  try {
    return fn();
  } finally {
    active = outer;
  }
}

/** Instruments a parsed AST in place (see above). Returns false when nothing in it can grow with the data. */
export function instrument(root: ASTNode): boolean {
  let any = false;
  const visit = (node: ASTNode): void => {
    const loop = comprehensionOf(node);
    if (loop) {
      const weight = nodeCount(loop.step);
      wrap(loop.step, (m) => m.charge(weight), undefined);
      wrap(loop.iterable, undefined, (m, v) => m.sized(v));
      any = true;
    } else if (isPlainCall(node)) {
      wrap(node, undefined, (m, v) => m.grown(v));
      const args = node.op === 'rcall' ? [node.args[1], ...node.args[2]] : node.args[1];
      for (const arg of args) if (arg.op !== 'value') wrap(arg, undefined, (m, v) => m.sized(v));
      any = true;
    } else if (node.op === '+') {
      wrap(node, undefined, (m, v) => m.grown(v));
      any = true;
    } else if (node.op === 'in' || node.op === '==' || node.op === '!=') {
      for (const arg of node.op === 'in' ? [node.args[1]] : node.args) {
        if (arg.op !== 'value') wrap(arg, undefined, (m, v) => m.sized(v));
      }
      any = true;
    }
    for (const child of childrenOf(node)) visit(child);
  };
  visit(root);
  return any;
}

/** A function or method call that is not a macro (`has`, `cel.bind`, `all`… are expanded instead). */
function isPlainCall(node: ASTNode): node is Extract<ASTNode, { op: 'call' | 'rcall' }> {
  if (node.op !== 'call' && node.op !== 'rcall') return false;
  const meta = metaOf(node);
  return meta.alternate === undefined && meta.macro === undefined;
}

/** Nodes evaluated by one run of `node`, not counting the steps of comprehensions inside it (they charge their own). */
export function nodeCount(node: ASTNode): number {
  let n = 1;
  const loop = comprehensionOf(node);
  if (loop) return n + nodeCount(loop.iterable) + nodeCount(loop.init);
  for (const child of childrenOf(node)) n += nodeCount(child);
  return n;
}

type Hook = (m: Meter, value: unknown) => void;

/**
 * Replaces a node's evaluate with one that charges the active meter before (`before`) or after (`after`, with the
 * result) the node runs. Wrappers compose: a node can be both a call's result and another call's argument.
 */
function wrap(node: ASTNode, before: ((m: Meter) => void) | undefined, after: Hook | undefined): void {
  const target = node as unknown as { evaluate: Evaluate };
  const inner = Object.hasOwn(target, 'evaluate') ? target.evaluate : dispatch(node);
  target.evaluate = function metered(this: unknown, ev, ast, ctx) {
    const m = active;
    if (m && before) before(m);
    const value = inner.call(this, ev, ast, ctx);
    if (m && after) after(m, value);
    return value;
  };
}

/** What the library's own ASTNode.evaluate does, read at call time (type checking may swap meta.evaluate). */
function dispatch(node: ASTNode): Evaluate {
  const meta = metaOf(node);
  return function (this: unknown, ev, ast, ctx) {
    const alternate = meta.alternate as unknown as { evaluate: Evaluate } | undefined;
    if (alternate) return alternate.evaluate(ev, alternate, ctx);
    if (meta.macro) return meta.macro.evaluate(ev, meta.macro, ctx);
    return meta.evaluate.call(this, ev, ast, ctx);
  };
}

function sizeOf(value: unknown): number {
  if (typeof value === 'string' || Array.isArray(value) || value instanceof Uint8Array) return value.length;
  if (value instanceof Set || value instanceof Map) return value.size;
  return 0;
}

function describe(value: unknown, n: number): string {
  if (typeof value === 'string') return `a string of ${fmt(n)} characters`;
  return value instanceof Uint8Array ? `${fmt(n)} bytes` : `a list of ${fmt(n)} items`;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}
