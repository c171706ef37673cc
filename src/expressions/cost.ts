import type { ASTNode } from '@marcbachmann/cel-js';
import { bindOf, childrenOf, comprehensionOf, type ComprehensionArgs } from './ast.js';
import { nodeCount } from './budget.js';
import { ASSUMED_LIST_LENGTH, type ExpressionLimits } from './limits.js';

/*
 * The static half of the cost budget, run at validation (the Kubernetes way: estimate the worst case before running).
 * The cost of an expression is estimated as a polynomial in n, the length of the lists it reads from the context,
 * which validation cannot know; lists written in the expression itself have their real length. The units are those
 * the run-time meter charges per comprehension step (budget.ts), so the estimate and the run agree.
 *
 * - comprehensions nested deeper than maxNesting: an error (each level multiplies the work by a list's length);
 * - over the budget with every context list empty (the literal data alone is too much): an error;
 * - over the budget once context lists are ASSUMED_LIST_LENGTH long: a warning that says from which length on;
 * - a string or list built from literals (`cel.bind` doubling) longer than the size limits: an error.
 */

export interface CostVerdict {
  severity: 'error' | 'warning';
  message: string;
}

/** Coefficients of a polynomial in n: `p[k]` multiplies n^k. */
type Poly = number[];

export function estimateCost(ast: ASTNode, limits: ExpressionLimits): CostVerdict | undefined {
  const depth = nesting(ast);
  if (depth > limits.maxNesting) {
    return {
      severity: 'error',
      message: `comprehensions (all, exists, map, filter…) are nested ${depth} deep, over the limit of ${limits.maxNesting}: each level multiplies the work by the length of its list`,
    };
  }
  const tooLong = literalSizes(ast, limits);
  if (tooLong) return { severity: 'error', message: tooLong };
  const poly = cost(ast);
  const atZero = value(poly, 0);
  if (atZero > limits.maxCost) {
    return {
      severity: 'error',
      message: `its loops over the lists written in it cost about ${fmt(atZero)} units whatever the data, over the budget of ${fmt(limits.maxCost)} (expressions.maxCost)`,
    };
  }
  if (value(poly, ASSUMED_LIST_LENGTH) > limits.maxCost) {
    const degree = poly.length - 1;
    const most = longestWithin(poly, limits.maxCost);
    return {
      severity: 'warning',
      message: `its cost grows like n${degree > 1 ? `^${degree}` : ''} for lists of n items: it stops with STN_E_EXPR_BUDGET once the lists it loops over have more than about ${fmt(most)} items (budget ${fmt(limits.maxCost)} units, expressions.maxCost)`,
    };
  }
  return undefined;
}

/** How deep comprehensions nest inside each other's steps (chained ones, `a.map(…).all(…)`, do not add up). */
function nesting(node: ASTNode): number {
  const loop = comprehensionOf(node);
  if (loop) return Math.max(nesting(loop.iterable), nesting(loop.init), 1 + nesting(loop.step));
  let most = 0;
  for (const child of childrenOf(node)) most = Math.max(most, nesting(child));
  return most;
}

/** The units the run-time meter charges for one evaluation of `node`, per comprehension step. */
function cost(node: ASTNode): Poly {
  const loop = comprehensionOf(node);
  if (loop) {
    const perStep = add([nodeCount(loop.step)], cost(loop.step));
    return add(add(cost(loop.iterable), cost(loop.init)), times(perStep, length(loop)));
  }
  let total: Poly = [0];
  for (const child of childrenOf(node)) total = add(total, cost(child));
  return total;
}

/** The length of a comprehension's list: known for a literal (or a map/filter over one), n otherwise. */
function length(loop: ComprehensionArgs): Poly {
  const it = loop.iterable;
  if (it.op === 'list' || it.op === 'map') return [it.args.length];
  const inner = comprehensionOf(it);
  // map/filter build a list at most as long as theirs (their init is `[]`); all/exists build a bool.
  if (inner && inner.init.op === 'list') return length(inner);
  return [0, 1];
}

function add(a: Poly, b: Poly): Poly {
  const out: Poly = [];
  for (let k = 0; k < Math.max(a.length, b.length); k++) out.push((a[k] ?? 0) + (b[k] ?? 0));
  return out;
}

function times(a: Poly, b: Poly): Poly {
  const out: Poly = new Array<number>(a.length + b.length - 1).fill(0);
  a.forEach((x, i) => b.forEach((y, j) => (out[i + j] = (out[i + j] ?? 0) + x * y)));
  return out;
}

function value(p: Poly, n: number): number {
  return p.reduceRight((acc, c) => acc * n + c, 0);
}

/** The largest list length whose cost stays within the budget (the polynomial grows with n). */
function longestWithin(p: Poly, budget: number): number {
  let lo = 0;
  let hi = ASSUMED_LIST_LENGTH;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (value(p, mid) <= budget) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Follows the sizes of strings and lists built from literals through `+` and `cel.bind`, and reports one longer than
 * the limits: `cel.bind(a, "xx", cel.bind(b, a + a, …))` doubles without reading any data.
 */
function literalSizes(root: ASTNode, limits: ExpressionLimits): string | undefined {
  let found: string | undefined;
  type Size = { kind: 'string' | 'list'; n: number } | undefined;
  const sizeOf = (node: ASTNode, scope: ReadonlyMap<string, Size>): Size => {
    if (found) return undefined;
    const bind = bindOf(node);
    if (bind) {
      const bound = sizeOf(bind.val, scope);
      return sizeOf(bind.exp, new Map(scope).set(bind.var, bound));
    }
    const loop = comprehensionOf(node);
    if (loop) {
      sizeOf(loop.iterable, scope);
      sizeOf(loop.step, new Map(scope).set(loop.iterVarName, undefined));
      return undefined;
    }
    switch (node.op) {
      case 'value':
        return typeof node.args === 'string' ? { kind: 'string', n: node.args.length } : undefined;
      case 'list':
        node.args.forEach((a) => sizeOf(a, scope));
        return { kind: 'list', n: node.args.length };
      case 'id':
        return scope.get(node.args);
      case '+': {
        const [a, b] = [sizeOf(node.args[0], scope), sizeOf(node.args[1], scope)];
        if (!a || !b || a.kind !== b.kind) return undefined;
        const n = a.n + b.n;
        const limit = a.kind === 'string' ? limits.maxStringLength : limits.maxListLength;
        if (n > limit) {
          found = `it builds a ${a.kind} of ${fmt(n)} ${a.kind === 'string' ? 'characters' : 'items'} from the literals in it, over the limit of ${fmt(limit)}`;
        }
        return { kind: a.kind, n };
      }
      default:
        for (const child of childrenOf(node)) sizeOf(child, scope);
        return undefined;
    }
  };
  sizeOf(root, new Map());
  return found;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
