import type { BinaryOp, Clause, CompareOp, Expr, Kwarg, Target } from './ast.js';
import { StarlarkSyntaxError } from './errors.js';
import { Lexer, type Token } from './tokenizer.js';

/*
 * The expression half of the parser: Python's precedence levels by recursive descent, and the token helpers the
 * statement half (parser.ts) shares. Nesting is bounded (`maxDepth`), so `((((…` a hundred thousand deep is a syntax
 * error, never a stack overflow.
 */

export interface ParseOptions {
  /** Accept CEL's `&&` `||` `!` `C ? A : B` `x.?k` `x[?k]` `true/false/null` and `$` (the condition rewrite). */
  cel?: boolean;
  maxDepth?: number;
}

/** Words the subset deliberately leaves out, with why (the parser names them instead of a bare "unexpected"). */
export const UNSUPPORTED: Readonly<Record<string, string>> = {
  def: 'functions (def) are not supported in Station transforms',
  lambda: 'lambda is not supported in Station transforms',
  load: 'load() is not supported in Station transforms',
  while: 'while loops are not supported in Station transforms: use for over a list or range()',
  return: 'return is not supported: the value of the last expression is the result',
  class: 'classes are not supported in Station transforms',
  import: 'import is not supported in Station transforms',
  from: 'import is not supported in Station transforms',
  try: 'try is not supported in Station transforms',
  with: 'with is not supported in Station transforms',
  yield: 'yield is not supported in Station transforms',
  del: 'del is not supported in Station transforms',
  global: 'global is not supported in Station transforms',
  nonlocal: 'nonlocal is not supported in Station transforms',
  assert: 'assert is not supported in Station transforms: use fail("...") inside an if',
  raise: 'raise is not supported in Station transforms: use fail("...")',
  is: '"is" is not supported: use == or !=',
};
export const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'if', 'elif', 'else', 'for', 'break', 'continue', 'pass', ...Object.keys(UNSUPPORTED)]);
const COMPARE = new Set(['==', '!=', '<', '<=', '>', '>=']);

export class ExpressionParser {
  /** The tokens read so far (the lexer is pulled on demand: a parser that gives up early never scans the rest). */
  private readonly tokens: Token[] = [];
  private readonly lexer: Lexer;
  protected skipLayout = false;
  private i = 0;
  protected depth = 0;
  private readonly cel: boolean;
  private readonly maxDepth: number;

  constructor(
    private readonly src: string,
    opts: ParseOptions,
  ) {
    this.cel = opts.cel === true;
    this.maxDepth = opts.maxDepth ?? 200;
    this.lexer = new Lexer(src, this.maxDepth);
  }

  /** `a, b` is a tuple; a trailing comma too. */
  protected testList(): Expr {
    const first = this.test();
    if (!this.isOp(',')) return first;
    const items = [first];
    while (this.isOp(',')) {
      this.next();
      if (!this.startsExpression()) break;
      items.push(this.test());
    }
    return { kind: 'tuple', items, line: first.line, pos: first.pos };
  }

  protected test(): Expr {
    this.enter();
    const e = this.orTest();
    let out = e;
    const t = this.peek();
    if (t.type === 'name' && t.value === 'if') {
      this.next();
      const test = this.orTest();
      this.expectName('else', 'a conditional expression needs "else": A if C else B');
      const otherwise = this.test();
      out = { kind: 'conditional', test, then: e, otherwise, cel: false, line: t.line, pos: e.pos };
    } else if (this.cel && t.type === 'op' && t.value === '?') {
      this.next();
      const then = this.test();
      this.expectOp(':');
      const otherwise = this.test();
      out = { kind: 'conditional', test: e, then, otherwise, cel: true, line: t.line, pos: e.pos };
    }
    this.depth--;
    return out;
  }

  protected orTest(): Expr {
    let left = this.andTest();
    for (;;) {
      const t = this.peek();
      const cel = this.cel && t.type === 'op' && t.value === '||';
      if (!cel && !(t.type === 'name' && t.value === 'or')) return left;
      this.next();
      left = { kind: 'or', left, right: this.andTest(), cel, line: t.line, pos: left.pos };
    }
  }

  protected andTest(): Expr {
    let left = this.notTest();
    for (;;) {
      const t = this.peek();
      const cel = this.cel && t.type === 'op' && t.value === '&&';
      if (!cel && !(t.type === 'name' && t.value === 'and')) return left;
      this.next();
      left = { kind: 'and', left, right: this.notTest(), cel, line: t.line, pos: left.pos };
    }
  }

  protected notTest(): Expr {
    const t = this.peek();
    if (t.type === 'name' && t.value === 'not') {
      this.next();
      this.enter();
      const operand = this.notTest();
      this.depth--;
      return { kind: 'unary', op: 'not', operand, line: t.line, pos: t.pos };
    }
    return this.comparison();
  }

  protected comparison(): Expr {
    const first = this.bitOr();
    const ops: CompareOp[] = [];
    const operands = [first];
    let line = first.line;
    for (;;) {
      const t = this.peek();
      let op: CompareOp | undefined;
      if (t.type === 'op' && COMPARE.has(t.value)) op = t.value as CompareOp;
      else if (t.type === 'name' && t.value === 'in') op = 'in';
      else if (t.type === 'name' && t.value === 'not' && this.peek(1).type === 'name' && this.peek(1).value === 'in') op = 'not in';
      else if (t.type === 'name' && t.value === 'is') this.fail(UNSUPPORTED.is ?? '', t);
      if (op === undefined) break;
      this.next();
      if (op === 'not in') this.next();
      if (ops.length === 0) line = t.line;
      ops.push(op);
      operands.push(this.bitOr());
    }
    if (ops.length === 0) return first;
    return { kind: 'compare', ops, operands, line, pos: first.pos };
  }

  protected bitOr(): Expr {
    return this.binaryLevel(['|'], () => this.bitXor());
  }
  protected bitXor(): Expr {
    return this.binaryLevel(['^'], () => this.bitAnd());
  }
  protected bitAnd(): Expr {
    return this.binaryLevel(['&'], () => this.shift());
  }
  protected shift(): Expr {
    return this.binaryLevel(['<<', '>>'], () => this.arith());
  }
  protected arith(): Expr {
    return this.binaryLevel(['+', '-'], () => this.term());
  }
  protected term(): Expr {
    return this.binaryLevel(['*', '/', '//', '%'], () => this.factor());
  }

  protected binaryLevel(ops: string[], operand: () => Expr): Expr {
    let left = operand();
    for (;;) {
      const t = this.peek();
      if (t.type !== 'op' || !ops.includes(t.value)) return left;
      this.next();
      left = { kind: 'binary', op: t.value as BinaryOp, left, right: operand(), line: t.line, pos: left.pos };
    }
  }

  protected factor(): Expr {
    const t = this.peek();
    if (t.type === 'op' && (t.value === '-' || t.value === '+' || t.value === '~' || (this.cel && t.value === '!'))) {
      this.next();
      this.enter();
      const operand = this.factor();
      this.depth--;
      return { kind: 'unary', op: t.value as '-' | '+' | '~' | '!', operand, line: t.line, pos: t.pos };
    }
    return this.power();
  }

  protected power(): Expr {
    const base = this.primary();
    const t = this.peek();
    if (t.type !== 'op' || t.value !== '**') return base;
    this.next();
    this.enter();
    const exponent = this.factor();
    this.depth--;
    return { kind: 'binary', op: '**', left: base, right: exponent, line: t.line, pos: base.pos };
  }

  protected primary(): Expr {
    let e = this.atom();
    for (;;) {
      const t = this.peek();
      if (t.type !== 'op') return e;
      if (t.value === '.') {
        this.next();
        let optional = false;
        if (this.cel && this.isOp('?')) {
          this.next();
          optional = true;
        }
        const name = this.next();
        if (name.type !== 'name') this.fail('expected a field name after "."', name);
        e = { kind: 'attr', object: e, name: name.value, optional, line: name.line, pos: e.pos };
      } else if (t.value === '(') {
        this.next();
        const { args, kwargs } = this.callArguments(t);
        e = { kind: 'call', callee: e, args, kwargs, line: t.line, pos: e.pos };
      } else if (t.value === '[') {
        this.next();
        e = this.subscript(e, t);
      } else {
        return e;
      }
      e.end = this.last().end;
    }
  }

  protected callArguments(open: Token): { args: Expr[]; kwargs: Kwarg[] } {
    const args: Expr[] = [];
    const kwargs: Kwarg[] = [];
    this.enter();
    while (!this.isOp(')')) {
      const t = this.peek();
      if (t.type === 'op' && (t.value === '*' || t.value === '**')) this.fail('*args and **kwargs are not supported', t);
      if (t.type === 'name' && !KEYWORDS.has(t.value) && this.peek(1).type === 'op' && this.peek(1).value === '=') {
        this.next();
        this.next();
        if (kwargs.some((k) => k.name === t.value)) this.fail(`keyword argument "${t.value}" repeated`, t);
        kwargs.push({ name: t.value, value: this.test() });
      } else {
        if (kwargs.length > 0) this.fail('positional argument after a keyword argument', t);
        const arg = this.test();
        // `sum(x for x in l)`: a generator expression as the only argument.
        if (this.isName('for')) args.push(this.comprehension(arg, undefined, false, arg));
        else args.push(arg);
      }
      if (!this.isOp(',')) break;
      this.next();
    }
    if (!this.isOp(')')) this.unexpected(this.peek(), `expected ")" to close the call opened at line ${open.line}`);
    this.next();
    this.depth--;
    return { args, kwargs };
  }

  protected subscript(object: Expr, open: Token): Expr {
    this.enter();
    let optional = false;
    if (this.cel && this.isOp('?')) {
      this.next();
      optional = true;
    }
    const parts: (Expr | undefined)[] = [];
    let colons = 0;
    let current: Expr | undefined;
    while (!this.isOp(']')) {
      if (this.isOp(':')) {
        this.next();
        parts.push(current);
        current = undefined;
        colons++;
        if (colons > 2) this.fail('a slice has at most two ":"', this.peek());
      } else {
        if (current !== undefined) this.unexpected(this.peek());
        current = this.test();
      }
    }
    this.next();
    this.depth--;
    parts.push(current);
    const at = { line: open.line, pos: object.pos };
    if (colons === 0) {
      if (current === undefined) this.fail('empty index []', open);
      return { kind: 'index', object, index: current as Expr, optional, ...at };
    }
    if (optional) this.fail('a slice cannot be optional', open);
    return { kind: 'slice', object, start: parts[0], stop: parts[1], step: parts[2], ...at };
  }

  protected atom(): Expr {
    const e = this.atomOnly();
    e.end = this.last().end;
    return e;
  }

  protected atomOnly(): Expr {
    const t = this.next();
    const at = { line: t.line, pos: t.pos };
    switch (t.type) {
      case 'int': {
        const value = Number(t.value);
        if (!Number.isSafeInteger(value)) this.fail(`integer literal ${t.value} is too large`, t);
        return { kind: 'literal', value, float: false, raw: t.value, ...at };
      }
      case 'float':
        return { kind: 'literal', value: Number(t.value), float: true, raw: t.value, ...at };
      case 'string': {
        let value = t.value;
        let raw = this.src.slice(t.pos, t.end);
        // Adjacent literals concatenate, as in Python.
        while (this.peek().type === 'string') {
          const more = this.next();
          value += more.value;
          raw += ' ' + this.src.slice(more.pos, more.end);
        }
        return { kind: 'literal', value, float: false, raw, ...at };
      }
      case 'name':
        return this.nameAtom(t);
      case 'op':
        return this.bracketAtom(t);
      default:
        return this.unexpected(t);
    }
  }

  protected nameAtom(t: Token): Expr {
    const at = { line: t.line, pos: t.pos };
    switch (t.value) {
      case 'True':
        return { kind: 'literal', value: true, float: false, raw: t.value, ...at };
      case 'False':
        return { kind: 'literal', value: false, float: false, raw: t.value, ...at };
      case 'None':
        return { kind: 'literal', value: null, float: false, raw: t.value, ...at };
    }
    if (this.cel && (t.value === 'true' || t.value === 'false' || t.value === 'null')) {
      return { kind: 'literal', value: t.value === 'null' ? null : t.value === 'true', float: false, raw: t.value, ...at };
    }
    const why = UNSUPPORTED[t.value];
    if (why !== undefined) this.fail(why, t);
    if (KEYWORDS.has(t.value)) this.unexpected(t);
    return { kind: 'name', name: t.value, ...at };
  }

  protected bracketAtom(t: Token): Expr {
    const at = { line: t.line, pos: t.pos };
    if (t.value === '$' && this.cel) {
      // `$.a.b` is the path `a.b`; `$` alone (or `$["k"]`) is the whole context.
      if (this.isOp('.') && this.peek(1).type === 'name') {
        this.next();
        const name = this.next();
        return { kind: 'name', name: name.value, line: name.line, pos: name.pos };
      }
      return { kind: 'root', ...at };
    }
    if (t.value === '(') {
      this.enter();
      let e: Expr;
      if (this.isOp(')')) {
        e = { kind: 'tuple', items: [], ...at };
      } else {
        const first = this.test();
        if (this.isName('for')) e = this.comprehension(first, undefined, false, at);
        else if (this.isOp(',')) {
          const items = [first];
          while (this.isOp(',')) {
            this.next();
            if (this.isOp(')')) break;
            items.push(this.test());
          }
          e = { kind: 'tuple', items, ...at };
        } else e = first;
      }
      this.expectOp(')');
      this.depth--;
      return e;
    }
    if (t.value === '[') {
      this.enter();
      const items: Expr[] = [];
      let e: Expr | undefined;
      while (!this.isOp(']')) {
        const item = this.test();
        if (items.length === 0 && this.isName('for')) {
          e = this.comprehension(item, undefined, false, at);
          break;
        }
        items.push(item);
        if (!this.isOp(',')) break;
        this.next();
      }
      this.expectOp(']');
      this.depth--;
      return e ?? { kind: 'list', items, ...at };
    }
    if (t.value === '{') {
      this.enter();
      const keys: Expr[] = [];
      const values: Expr[] = [];
      let e: Expr | undefined;
      while (!this.isOp('}')) {
        const key = this.test();
        if (!this.isOp(':')) this.fail('sets are not supported: a "{" literal is a dict of key: value pairs', this.peek());
        this.next();
        const value = this.test();
        if (keys.length === 0 && this.isName('for')) {
          e = this.comprehension(key, value, true, at);
          break;
        }
        keys.push(key);
        values.push(value);
        if (!this.isOp(',')) break;
        this.next();
      }
      this.expectOp('}');
      this.depth--;
      return e ?? { kind: 'dict', keys, values, ...at };
    }
    return this.unexpected(t);
  }

  /** The `for … in … if …` clauses after the element of a comprehension. */
  protected comprehension(element: Expr, value: Expr | undefined, dict: boolean, at: { line: number; pos: number }): Expr {
    const clauses: Clause[] = [];
    while (this.isName('for') || (clauses.length > 0 && this.isName('if'))) {
      const t = this.next();
      if (t.value === 'for') {
        const target = this.forTarget();
        this.expectName('in');
        clauses.push({ kind: 'for', target, iterable: this.orTest() });
      } else {
        clauses.push({ kind: 'if', test: this.orTest() });
      }
    }
    return { kind: 'comprehension', dict, element, value, clauses, line: at.line, pos: at.pos };
  }

  /** `x`, `k, v`, `(k, v)`: parsed as expressions above `in`, then checked to be assignable. */
  protected forTarget(): Target {
    const first = this.bitOr();
    if (!this.isOp(',')) return this.toTarget(first);
    const items = [first];
    while (this.isOp(',')) {
      this.next();
      if (this.isName('in')) break;
      items.push(this.bitOr());
    }
    return this.toTarget({ kind: 'tuple', items, line: first.line, pos: first.pos });
  }

  protected toTarget(e: Expr): Target {
    switch (e.kind) {
      case 'name':
        return e;
      case 'tuple':
      case 'list':
        return { kind: 'tuple', items: e.items.map((x) => this.toTarget(x)), line: e.line, pos: e.pos };
      case 'index':
      case 'attr':
        if (!e.optional) return { ...e, optional: false };
        break;
    }
    return this.fail('cannot assign to this expression', this.tokenAt(e.pos));
  }

  // ---- helpers ----

  protected enter(): void {
    if (++this.depth > this.maxDepth) this.fail(`nested deeper than ${this.maxDepth} levels`, this.peek());
  }

  protected peek(ahead = 0): Token {
    const want = this.i + ahead;
    while (this.tokens.length <= want && this.tokens[this.tokens.length - 1]?.type !== 'eof') {
      const t = this.lexer.next();
      if (!this.skipLayout || (t.type !== 'newline' && t.type !== 'indent' && t.type !== 'dedent')) this.tokens.push(t);
    }
    return this.tokens[Math.min(want, this.tokens.length - 1)] as Token;
  }

  protected last(): Token {
    return this.tokens[Math.max(0, this.i - 1)] as Token;
  }

  protected next(): Token {
    const t = this.peek();
    if (t.type !== 'eof') this.i++;
    return t;
  }

  protected isOp(value: string): boolean {
    const t = this.peek();
    return t.type === 'op' && t.value === value;
  }

  protected isName(value: string): boolean {
    const t = this.peek();
    return t.type === 'name' && t.value === value;
  }

  protected startsExpression(): boolean {
    const t = this.peek();
    if (t.type === 'newline' || t.type === 'eof' || t.type === 'indent' || t.type === 'dedent') return false;
    if (t.type === 'op') return ['(', '[', '{', '-', '+', '~', '!', '$'].includes(t.value);
    return !(t.type === 'name' && KEYWORDS.has(t.value) && t.value !== 'not');
  }

  protected expectOp(value: string): Token {
    if (!this.isOp(value)) this.unexpected(this.peek(), `expected "${value}"`);
    return this.next();
  }

  protected expectName(value: string, why?: string): Token {
    if (!this.isName(value)) this.unexpected(this.peek(), why ?? `expected "${value}"`);
    return this.next();
  }

  protected tokenAt(pos: number): Token {
    return this.tokens.find((t) => t.pos >= pos) ?? this.peek();
  }

  protected unexpected(t: Token, expected?: string): never {
    const what =
      t.type === 'eof' ? 'the end of the expression'
      : t.type === 'newline' ? 'the end of the line'
      : t.type === 'indent' ? 'an indented line'
      : t.type === 'dedent' ? 'the end of the block'
      : t.type === 'string' ? 'a string'
      : `"${t.value}"`;
    return this.fail(expected ? `${expected}, found ${what}` : `unexpected ${what.replace(/^(the|an|a) /, '')}`, t);
  }

  protected fail(reason: string, t: Token): never {
    throw new StarlarkSyntaxError(reason, t.line, t.col);
  }
}
