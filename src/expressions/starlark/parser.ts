import type { BinaryOp, Expr, Stmt } from './ast.js';
import { ExpressionParser, type ParseOptions } from './expressions.js';

/*
 * Statement programs (assignments, if/elif/else, for, break/continue/pass) over the expression parser, and the two
 * entry points: a transform program, and a single expression (a condition or a `{{ }}` segment).
 */

export type { ParseOptions } from './expressions.js';

const AUGMENTED: Readonly<Record<string, BinaryOp>> = {
  '+=': '+', '-=': '-', '*=': '*', '/=': '/', '//=': '//', '%=': '%', '|=': '|', '&=': '&', '^=': '^', '<<=': '<<', '>>=': '>>', '**=': '**',
};

export function parseProgram(src: string, opts: ParseOptions = {}): Stmt[] {
  return new Parser(src, opts).program();
}

/** One expression (a condition or a `{{ }}` segment); newlines are allowed anywhere in it. */
export function parseExpression(src: string, opts: ParseOptions = {}): Expr {
  return new Parser(src, opts).expressionOnly();
}

class Parser extends ExpressionParser {
  /** How many for loops enclose the statement being parsed (break and continue need one). */
  private loops = 0;

  program(): Stmt[] {
    const body: Stmt[] = [];
    while (this.peek().type !== 'eof') {
      if (this.peek().type === 'indent') this.fail('unexpected indentation', this.peek());
      body.push(...this.statement());
    }
    return body;
  }

  expressionOnly(): Expr {
    // No layout tokens: a condition is one expression however it is wrapped.
    this.skipLayout = true;
    if (this.peek().type === 'eof') this.fail('empty expression', this.peek());
    const e = this.testList();
    if (this.peek().type !== 'eof') this.unexpected(this.peek());
    return e;
  }

  private statement(): Stmt[] {
    const t = this.peek();
    if (t.type === 'name' && t.value === 'if') return [this.ifStatement()];
    if (t.type === 'name' && t.value === 'for') return [this.forStatement()];
    const out = [this.simpleStatement()];
    while (this.isOp(';')) {
      this.next();
      if (this.peek().type === 'newline' || this.peek().type === 'eof') break;
      out.push(this.simpleStatement());
    }
    this.endOfLine();
    return out;
  }

  private endOfLine(): void {
    const t = this.peek();
    if (t.type === 'newline') this.next();
    else if (t.type !== 'eof' && t.type !== 'dedent') this.unexpected(t);
  }

  private simpleStatement(): Stmt {
    const t = this.peek();
    const at = { line: t.line, pos: t.pos };
    if (t.type === 'name' && (t.value === 'pass' || t.value === 'break' || t.value === 'continue')) {
      if (t.value !== 'pass' && this.loops === 0) this.fail(`"${t.value}" outside a for loop`, t);
      this.next();
      return { kind: t.value, ...at };
    }
    const first = this.testList();
    const op = this.peek();
    if (op.type === 'op' && op.value === '=') {
      this.next();
      const target = this.toTarget(first);
      const value = this.testList();
      if (this.isOp('=')) this.fail('chained assignment (a = b = c) is not supported', this.peek());
      return { kind: 'assign', target, op: undefined, value, ...at };
    }
    if (op.type === 'op' && AUGMENTED[op.value] !== undefined) {
      this.next();
      const target = this.toTarget(first);
      if (target.kind === 'tuple') this.fail('augmented assignment needs a single target', op);
      return { kind: 'assign', target, op: AUGMENTED[op.value], value: this.testList(), ...at };
    }
    return { kind: 'expr', expr: first, ...at };
  }

  private ifStatement(): Stmt {
    const start = this.next();
    const tests: Expr[] = [];
    const bodies: Stmt[][] = [];
    tests.push(this.test());
    bodies.push(this.suite());
    let otherwise: Stmt[] | undefined;
    for (;;) {
      const t = this.peek();
      if (t.type === 'name' && t.value === 'elif') {
        this.next();
        tests.push(this.test());
        bodies.push(this.suite());
      } else if (t.type === 'name' && t.value === 'else') {
        this.next();
        otherwise = this.suite();
        break;
      } else break;
    }
    return { kind: 'if', tests, bodies, otherwise, line: start.line, pos: start.pos };
  }

  private forStatement(): Stmt {
    const start = this.next();
    const target = this.forTarget();
    this.expectName('in');
    const iterable = this.testList();
    this.loops++;
    const body = this.suite();
    this.loops--;
    return { kind: 'for', target, iterable, body, line: start.line, pos: start.pos };
  }

  /** `:` then either statements on the same line or an indented block. */
  private suite(): Stmt[] {
    this.expectOp(':');
    this.enter();
    let body: Stmt[];
    if (this.peek().type !== 'newline') {
      body = this.statement();
    } else {
      this.next();
      if (this.peek().type !== 'indent') this.fail('expected an indented block', this.peek());
      this.next();
      body = [];
      while (this.peek().type !== 'dedent' && this.peek().type !== 'eof') body.push(...this.statement());
      if (this.peek().type === 'dedent') this.next();
    }
    this.depth--;
    return body;
  }
}
