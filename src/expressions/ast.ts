import type { ASTNode } from '@marcbachmann/cel-js';

/*
 * The shapes of the CEL library's AST that the cost budget (budget.ts) and the static estimate (cost.ts) walk. Macros
 * are expanded at parse time: `l.all(x, p)` is an `rcall` node whose `meta.alternate` is a `comprehension` node, and
 * `cel.bind(v, e, body)` / `has(a.b)` carry their parts in `meta.macro`.
 */

/** The node's evaluation metadata (the library exposes it as `meta`; not part of its typings). */
export interface NodeMeta {
  alternate?: ASTNode;
  macro?: { val?: ASTNode; exp?: ASTNode; args?: unknown; var?: string; evaluate: Evaluate };
  evaluate: Evaluate;
}

export type Evaluate = (ev: unknown, ast: unknown, ctx: unknown) => unknown;

/** The arguments of a comprehension node (`all`, `exists`, `exists_one`, `map`, `filter`). */
export interface ComprehensionArgs {
  iterable: ASTNode;
  init: ASTNode;
  step: ASTNode;
  iterVarName: string;
}

export function metaOf(node: ASTNode): NodeMeta {
  return (node as unknown as { meta: NodeMeta }).meta;
}

/** The comprehension a macro call expands to, or undefined. */
export function comprehensionOf(node: ASTNode): ComprehensionArgs | undefined {
  const alternate = metaOf(node).alternate;
  return alternate && isComprehension(alternate) ? (alternate.args as unknown as ComprehensionArgs) : undefined;
}

/** The library's own node kind for expanded macros; not in its typings. */
function isComprehension(node: ASTNode): boolean {
  return (node.op as string) === 'comprehension';
}

/** The `cel.bind(var, val, exp)` parts of a node, or undefined. */
export function bindOf(node: ASTNode): { var: string; val: ASTNode; exp: ASTNode } | undefined {
  const macro = metaOf(node).macro;
  return macro?.val && macro.exp && macro.var !== undefined ? { var: macro.var, val: macro.val, exp: macro.exp } : undefined;
}

/**
 * The nodes evaluated as part of `node`, following macro expansions (a macro call's own arguments are not listed
 * twice). A comprehension's children are its iterable, init and step, in that order.
 */
export function childrenOf(node: ASTNode): ASTNode[] {
  const meta = metaOf(node);
  if (meta.alternate) return [meta.alternate];
  if (meta.macro) {
    if (meta.macro.val && meta.macro.exp) return [meta.macro.val, meta.macro.exp];
    return nodesIn(meta.macro.args);
  }
  if (isComprehension(node)) {
    const c = node.args as unknown as ComprehensionArgs;
    return [c.iterable, c.init, c.step];
  }
  return nodesIn(node.args);
}

function nodesIn(value: unknown, into: ASTNode[] = []): ASTNode[] {
  if (Array.isArray(value)) for (const v of value) nodesIn(v, into);
  else if (isNode(value)) into.push(value);
  return into;
}

function isNode(value: unknown): value is ASTNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'meta' in value;
}
