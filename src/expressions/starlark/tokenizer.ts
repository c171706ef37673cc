import { StarlarkSyntaxError } from './errors.js';

/*
 * Python's lexical rules, as far as the subset needs them: indentation becomes INDENT/DEDENT tokens, newlines inside
 * brackets are ignored, `#` starts a comment, strings use ' or " (single or triple, optional r prefix). The CEL
 * operators `&&`, `||`, `!`, `?` and `$` are tokens too: the Station condition rewrite parses CEL mixed with Python,
 * and the transform parser simply refuses them where they are not Python.
 */

export type TokenType = 'name' | 'int' | 'float' | 'string' | 'op' | 'newline' | 'indent' | 'dedent' | 'eof';

export interface Token {
  type: TokenType;
  /** The operator or name; the decoded text of a string; the source text of a number. */
  value: string;
  /** Offset in the source, and 1-based line and column. */
  pos: number;
  line: number;
  col: number;
  /** Where the token ends in the source (exclusive). */
  end: number;
}

const OPERATORS = [
  '**=', '//=', '>>=', '<<=',
  '**', '//', '==', '!=', '<=', '>=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<', '>>', '&&', '||',
  '+', '-', '*', '/', '%', '<', '>', '=', '(', ')', '[', ']', '{', '}', ',', ':', '.', ';', '&', '|', '^', '~', '!', '?', '$',
];
/** The operators by their first character, longest first. */
const BY_FIRST = new Map<string, string[]>();
for (const op of OPERATORS) BY_FIRST.set(op[0] ?? '', [...(BY_FIRST.get(op[0] ?? '') ?? []), op]);
const OPENERS: Readonly<Record<string, string>> = { '(': ')', '[': ']', '{': '}' };
const ESCAPES: Readonly<Record<string, string>> = {
  n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0',
};

/** All tokens of `src` (tests and tools; the parser pulls them one at a time from a Lexer). */
export function tokenize(src: string): Token[] {
  const lexer = new Lexer(src);
  const out: Token[] = [];
  for (let t = lexer.next(); ; t = lexer.next()) {
    out.push(t);
    if (t.type === 'eof') return out;
  }
}

/**
 * Produces tokens on demand, so that a parser that gives up early (nesting too deep) never scans the rest of a huge
 * source. Bracket nesting deeper than `maxDepth` is refused here already.
 */
export class Lexer {
  private readonly queue: Token[] = [];
  private readonly indents: number[] = [];
  private readonly brackets: string[] = [];
  private i = 0;
  private line = 1;
  private lineStart = 0;
  private atLineStart = true;
  private done = false;

  constructor(
    private readonly src: string,
    private readonly maxDepth = 200,
  ) {}

  next(): Token {
    while (this.queue.length === 0) this.scan();
    return this.queue.shift() as Token;
  }

  private fail(reason: string, at: number): never {
    const src = this.src;
    throw new StarlarkSyntaxError(reason, lineOf(src, at), at - src.lastIndexOf('\n', at - 1));
  }

  private push(type: TokenType, value: string, pos: number, end: number): void {
    this.queue.push({ type, value, pos, line: this.line, col: pos - this.lineStart + 1, end });
  }

  /** Scans until at least one token is queued. */
  private scan(): void {
    const src = this.src;
    const brackets = this.brackets;
    const indents = this.indents;
    if (this.done) {
      this.push('eof', '', src.length, src.length);
      return;
    }
    while (this.i < src.length && this.queue.length === 0) this.step(src, brackets, indents);
    if (this.i < src.length || this.queue.length > 0) return;
    if (brackets.length > 0) this.fail(`unclosed bracket: expected "${brackets[brackets.length - 1] ?? ''}" before the end`, src.length);
    if (!this.atLineStart) this.push('newline', '', src.length, src.length);
    while (indents.length > 1) {
      indents.pop();
      this.push('dedent', '', src.length, src.length);
    }
    this.done = true;
    if (this.queue.length === 0) this.push('eof', '', src.length, src.length);
  }

  private step(src: string, brackets: string[], indents: number[]): void {
    let i = this.i;
    if (this.atLineStart && brackets.length === 0) {
      // Measure the indentation of a logical line; blank and comment-only lines do not count.
      let width = 0;
      let j = i;
      for (; j < src.length; j++) {
        const c = src[j];
        if (c === ' ') width += 1;
        else if (c === '\t') width += 8 - (width % 8);
        else if (c !== '\r') break;
      }
      const c = src[j];
      if (c === '\n' || c === '#' || c === undefined) {
        i = j;
        if (c === '#') while (i < src.length && src[i] !== '\n') i++;
        if (src[i] === '\n') {
          i++;
          this.line++;
          this.lineStart = i;
        }
        this.i = i;
        return;
      }
      this.atLineStart = false;
      this.i = j;
      // The first line's indentation is the base: an expression copied from an indented YAML block still parses.
      if (indents.length === 0) indents.push(width);
      const top = indents[indents.length - 1] ?? 0;
      if (width > top) {
        indents.push(width);
        this.push('indent', '', j, j);
      } else if (width < top) {
        while (width < (indents[indents.length - 1] ?? 0)) {
          indents.pop();
          this.push('dedent', '', j, j);
        }
        if (width !== indents[indents.length - 1]) this.fail('unindent does not match any outer indentation level', j);
      }
      return;
    }
    const ch = src[i] ?? '';
    if (ch === '\n') {
      if (brackets.length === 0) {
        this.push('newline', '', i, i + 1);
        this.atLineStart = true;
      }
      this.i = i + 1;
      this.line++;
      this.lineStart = i + 1;
      return;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\f') {
      this.i = i + 1;
      return;
    }
    if (ch === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      this.i = i;
      return;
    }
    if (ch === '\\' && (src[i + 1] === '\n' || (src[i + 1] === '\r' && src[i + 2] === '\n'))) {
      this.i = i + (src[i + 1] === '\n' ? 2 : 3);
      this.line++;
      this.lineStart = this.i;
      return;
    }
    const fail = (reason: string, at: number): never => this.fail(reason, at);
    if (isIdentStart(ch)) {
      let j = i + 1;
      while (j < src.length && isIdentPart(src[j] ?? '')) j++;
      const word = src.slice(i, j);
      if ((word === 'r' || word === 'R') && (src[j] === '"' || src[j] === "'")) {
        const { value, end } = readString(src, j, true, fail);
        this.push('string', value, i, end);
        this.i = end;
        return;
      }
      if ((src[j] === '"' || src[j] === "'") && /^[fFbBuU]$|^[rR][bB]$|^[bB][rR]$/.test(word)) {
        this.fail(/[fF]/.test(word) ? 'f-strings are not supported: use "...{}".format(x) or "...%s" % x' : `${word}"..." strings are not supported`, i);
      }
      this.push('name', word, i, j);
      this.i = j;
      return;
    }
    if (isDigit(ch) || (ch === '.' && isDigit(src[i + 1] ?? ''))) {
      const m = NUMBER.exec(src.slice(i, i + 400));
      const text = m?.[0] ?? ch;
      if (isIdentPart(src[i + text.length] ?? '')) this.fail(`invalid number literal "${text}${src[i + text.length] ?? ''}"`, i);
      const isFloat = !/^0[xXoObB]/.test(text) && /[.eE]/.test(text);
      if (!isFloat && /^0[0-9]/.test(text) && !/^0+$/.test(text)) this.fail(`invalid number literal "${text}" (leading zero)`, i);
      this.push(isFloat ? 'float' : 'int', text, i, i + text.length);
      this.i = i + text.length;
      return;
    }
    if (ch === '"' || ch === "'") {
      const { value, end } = readString(src, i, false, fail);
      this.push('string', value, i, end);
      this.i = end;
      return;
    }
    let op: string | undefined;
    for (const o of BY_FIRST.get(ch) ?? []) {
      if (o.length === 1 || src.startsWith(o, i)) {
        op = o;
        break;
      }
    }
    if (op === undefined) return this.fail(`unexpected character ${JSON.stringify(ch)}`, i);
    const closer = OPENERS[op];
    if (closer !== undefined) {
      if (brackets.length >= this.maxDepth) this.fail(`nested deeper than ${this.maxDepth} levels`, i);
      brackets.push(closer);
    } else if (op === ')' || op === ']' || op === '}') {
      const want = brackets.pop();
      if (want !== op) this.fail(want === undefined ? `unmatched "${op}"` : `"${op}" does not close the bracket opened before (expected "${want}")`, i);
    }
    this.push('op', op, i, i + op.length);
    this.i = i + op.length;
  }
}

const NUMBER = /^(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)/;

function isIdentStart(ch: string): boolean {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch === '_';
}
function isIdentPart(ch: string): boolean {
  return isIdentStart(ch) || isDigit(ch);
}
function isDigit(ch: string): boolean {
  return ch >= '0' && ch <= '9';
}

export function lineOf(src: string, at: number): number {
  let n = 1;
  for (let k = src.indexOf('\n'); k >= 0 && k < at; k = src.indexOf('\n', k + 1)) n++;
  return n;
}

function readString(
  src: string,
  start: number,
  raw: boolean,
  fail: (reason: string, at: number) => never,
): { value: string; end: number } {
  const quote = src[start] ?? '"';
  const triple = src[start + 1] === quote && src[start + 2] === quote;
  let i = start + (triple ? 3 : 1);
  let out = '';
  while (i < src.length) {
    const c = src[i] ?? '';
    if (c === quote && (!triple || (src[i + 1] === quote && src[i + 2] === quote))) {
      return { value: out, end: i + (triple ? 3 : 1) };
    }
    if (c === '\n' && !triple) break;
    if (c !== '\\') {
      out += c;
      i++;
      continue;
    }
    const e = src[i + 1] ?? '';
    if (raw) {
      // A raw string keeps the backslash, but a backslash still keeps the quote after it from ending the string.
      out += c + e;
      i += 2;
      continue;
    }
    if (e === '\n') {
      i += 2;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = src.slice(i + 2, i + 2 + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) fail(`invalid escape "\\${e}${hex}" in a string`, i);
      const code = parseInt(hex, 16);
      if (code > 0x10ffff) fail(`invalid escape "\\${e}${hex}" in a string`, i);
      out += String.fromCodePoint(code);
      i += 2 + len;
    } else if (ESCAPES[e] !== undefined) {
      out += ESCAPES[e];
      i += 2;
    } else {
      // Python keeps an unknown escape as written.
      out += c + e;
      i += 2;
    }
  }
  return fail('unterminated string literal', start);
}
