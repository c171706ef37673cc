/*
 * The syntax tree of the Starlark subset. Every node carries the 1-based line it starts on (run-time errors name it)
 * and its offset in the source. The CEL-only forms (`C ? A : B`, `x.?k`, `x[?k]`, `$`) appear only when the Station
 * condition rewrite parses with `cel: true`.
 */

interface At {
  line: number;
  pos: number;
  /** Where the node ends in the source (exclusive), when the parser knows it cheaply (atoms, calls, subscripts). */
  end?: number;
}

export type Expr =
  | (At & { kind: 'name'; name: string })
  | (At & { kind: 'literal'; value: null | boolean | number | string; float: boolean; raw: string })
  | (At & { kind: 'list'; items: Expr[] })
  | (At & { kind: 'tuple'; items: Expr[] })
  | (At & { kind: 'dict'; keys: Expr[]; values: Expr[] })
  | (At & { kind: 'attr'; object: Expr; name: string; optional: boolean })
  | (At & { kind: 'index'; object: Expr; index: Expr; optional: boolean })
  | (At & { kind: 'slice'; object: Expr; start: Expr | undefined; stop: Expr | undefined; step: Expr | undefined })
  | (At & { kind: 'call'; callee: Expr; args: Expr[]; kwargs: Kwarg[] })
  | (At & { kind: 'unary'; op: '-' | '+' | '~' | 'not' | '!'; operand: Expr })
  | (At & { kind: 'binary'; op: BinaryOp; left: Expr; right: Expr })
  | (At & { kind: 'compare'; ops: CompareOp[]; operands: Expr[] })
  | (At & { kind: 'and' | 'or'; left: Expr; right: Expr; cel: boolean })
  | (At & { kind: 'conditional'; test: Expr; then: Expr; otherwise: Expr; cel: boolean })
  | (At & { kind: 'comprehension'; dict: boolean; element: Expr; value: Expr | undefined; clauses: Clause[] })
  /** `$` in a Station condition: the whole context. */
  | (At & { kind: 'root' });

export interface Kwarg {
  name: string;
  value: Expr;
}

export type BinaryOp = '+' | '-' | '*' | '/' | '//' | '%' | '**' | '|' | '&' | '^' | '<<' | '>>';
export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not in';

export type Clause = { kind: 'for'; target: Target; iterable: Expr } | { kind: 'if'; test: Expr };

/** What can be assigned to: a name, a tuple/list of targets, `x[k]` or `x.k`. */
export type Target =
  | (At & { kind: 'name'; name: string })
  | (At & { kind: 'tuple'; items: Target[] })
  | (At & { kind: 'index'; object: Expr; index: Expr; optional: false })
  | (At & { kind: 'attr'; object: Expr; name: string; optional: false });

export type Stmt =
  | (At & { kind: 'expr'; expr: Expr })
  | (At & { kind: 'assign'; target: Target; op: BinaryOp | undefined; value: Expr })
  | (At & { kind: 'if'; tests: Expr[]; bodies: Stmt[][]; otherwise: Stmt[] | undefined })
  | (At & { kind: 'for'; target: Target; iterable: Expr; body: Stmt[] })
  | (At & { kind: 'break' | 'continue' | 'pass' });
