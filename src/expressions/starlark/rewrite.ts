import { checkExpressionSyntax } from '../cel.js';
import { ExpressionError } from '../errors.js';
import { isQuote, skipString } from '../lexer.js';
import { normalizeCondition } from '../station.js';
import { parseTemplate, type TemplatePart } from '../template.js';
import type { Expr } from './ast.js';
import { StarlarkSyntaxError } from './errors.js';
import { parseExpression } from './parser.js';

/*
 * Conditions and `{{ }}` templates stay CEL; Station's files write some of them in Python. Those are parsed with the
 * transform parser (in its CEL-tolerant mode, so `len(x) > 0 && y` parses too) and written back as CEL. Expressions
 * that only need the word-level spellings (True, and, `$.`) keep the exact output of normalizeCondition.
 */

export interface StationRewriteOptions {
  /** Root identifiers that are not context keys (loop variables, `input`, `run`, `vars`, `secrets`, `data`, `ctx`,
   *  `steps`, `index`): `hasattr(item, 'k')` roots at `item.?k`, not `ctx.?item.?k`. */
  localRoots: ReadonlySet<string>;
  /** The condition belongs to a switch with dataPath: root identifiers `_value`, `val`, `result` → `data`. */
  dataAliases?: boolean;
  /** Station reads a step's output at the top level under its state id (`triage.summary`): a root identifier in
   *  this set (and not in localRoots) becomes `steps.<id>` (`steps.triage.summary`). */
  stateAliases?: ReadonlySet<string>;
}

type Where = 'condition' | 'template';

/** Forms only the syntax tree can rewrite; their absence (outside strings) keeps the word-level path. */
const TREE_FORMS = /\b(?:hasattr|getattr|len|str|float)\s*\(|\.\s*(?:get|startswith|endswith)\s*\(|\bif\b|\bworkflow\s*\.\s*input\b|\b_cronTriggeredAt\b|\bnot\s+in\b|\[\s*-/;
const WORD_FORMS = /\$|\b(?:True|False|None|and|or|not)\b/;
const DATA_ALIASES = new Set(['_value', 'val', 'result']);
const DOLLAR = '$.a.b → a.b';
const CRON_TIME = 'run.trigger.?scheduledAt.orValue(run.startedAt)';

/**
 * Rewrites one condition or one `{{ }}` expression written in Station's Python/Starlark style into CEL. Returns the
 * input unchanged with `rewrites: []` when it is plain CEL that needs nothing. `rewrites` lists, in words, what was
 * rewritten, one entry per kind. Throws ExpressionError STN_E_EXPR_SYNTAX ending with a hint when a construct has no
 * CEL equivalent.
 */
export function rewriteStationExpression(src: string, opts: StationRewriteOptions): { expr: string; rewrites: string[] } {
  return rewrite(src, opts, 'condition');
}

/** The same for every `{{ }}` segment of a template string (text outside `{{ }}` is kept byte for byte). */
export function rewriteStationTemplate(text: string, opts: StationRewriteOptions): { text: string; rewrites: string[] } {
  if (!text.includes('{{')) return { text, rewrites: [] };
  let parts: TemplatePart[];
  try {
    parts = parseTemplate(text);
  } catch (err) {
    // A malformed template is left as it is, for validation to report where it is wrong.
    if (err instanceof ExpressionError) return { text, rewrites: [] };
    throw err;
  }
  const rewrites: string[] = [];
  let out = '';
  let copied = 0;
  for (const part of parts) {
    if (part.kind !== 'expr') continue;
    const r = rewrite(part.source, opts, 'template');
    if (r.rewrites.length === 0) continue;
    out += text.slice(copied, part.offset) + r.expr;
    copied = part.offset + part.source.length;
    for (const w of r.rewrites) if (!rewrites.includes(w)) rewrites.push(w);
  }
  return copied === 0 ? { text, rewrites } : { text: out + text.slice(copied), rewrites };
}

function rewrite(src: string, opts: StationRewriteOptions, where: Where): { expr: string; rewrites: string[] } {
  const code = stripStrings(src);
  // Two comparisons may be a Python chain (`a < b < c`), which CEL would parse as `(a < b) < c`.
  const tree = TREE_FORMS.test(code) || (code.match(/[<>]=?|[=!]=/g)?.length ?? 0) >= 2 || mayUseAlias(code, opts);
  // What the word-level rewrite makes of it: today's output, kept exactly for what it handles.
  const words = (): { expr: string; rewrites: string[] } => {
    const w = normalizeCondition(src);
    return { expr: w.expr, rewrites: w.changed ? wordRewrites(code) : [] };
  };
  if (!tree) {
    if (!WORD_FORMS.test(code) && checkExpressionSyntax(src) === undefined) return { expr: src, rewrites: [] };
    const w = words();
    if (checkExpressionSyntax(w.expr) === undefined) return w;
  }
  let ast: Expr;
  try {
    ast = parseExpression(src, { cel: true });
  } catch (err) {
    if (!(err instanceof StarlarkSyntaxError)) throw err;
    // CEL the Python parser does not know (`1u`, `b"…"`), or nothing Python-specific: the CEL check judges it.
    const w = words();
    if (!tree || checkExpressionSyntax(w.expr) === undefined) return w;
    const reason = `syntax error: ${err.reason} (line ${err.line}, column ${err.col})`;
    throw new ExpressionError('STN_E_EXPR_SYNTAX', `${reason} in ${src}`, { expression: src, reason, offset: offsetOf(src, err.line, err.col) });
  }
  const writer = new CelWriter(src, opts, where);
  const expr = writer.write(ast, 0);
  // Nothing the word-level rewrite cannot do: keep its output (the CEL check reports what is wrong with it, if anything).
  if (!writer.treeRewrite) return words();
  const invalid = checkExpressionSyntax(expr);
  if (invalid !== undefined) {
    const reason = `${JSON.stringify(src)} is not valid CEL (as ${JSON.stringify(expr)}: ${invalid.message}): ${hint(where)}`;
    throw new ExpressionError('STN_E_EXPR_SYNTAX', reason, { expression: src, reason });
  }
  // `$.a` reaches the writer as the name `a`: its note comes from the source.
  const rewrites = writer.rewrites;
  if (code.includes('$') && !rewrites.includes(DOLLAR)) rewrites.push(DOLLAR);
  return { expr, rewrites };
}

function hint(where: Where): string {
  return where === 'condition'
    ? 'compare exact values, or compute it in a transform state'
    : 'compute the value in a transform state and use it here';
}

/** The source with the inside of string literals blanked, so that the pattern tests see only code. */
function stripStrings(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const ch = src[i];
    if (isQuote(ch)) {
      const end = skipString(src, i);
      const stop = end < 0 ? src.length : end;
      out += '""';
      i = stop;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

function mayUseAlias(code: string, opts: StationRewriteOptions): boolean {
  if (!opts.dataAliases && (opts.stateAliases?.size ?? 0) === 0) return false;
  for (const m of code.matchAll(/(?<![.\w$])[A-Za-z_]\w*/g)) {
    const word = m[0];
    if (opts.dataAliases && DATA_ALIASES.has(word)) return true;
    if (opts.stateAliases?.has(word) && !opts.localRoots.has(word)) return true;
  }
  return false;
}

function wordRewrites(code: string): string[] {
  const out: string[] = [];
  if (/\b(?:True|False|None)\b/.test(code)) out.push('True/False/None → true/false/null');
  if (/\b(?:and|or|not)\b/.test(code)) out.push('and/or/not → &&/||/!');
  if (code.includes('$')) out.push(DOLLAR);
  return out;
}

function offsetOf(src: string, line: number, col: number): number {
  let at = 0;
  for (let l = 1; l < line; l++) at = src.indexOf('\n', at) + 1;
  return at + col - 1;
}

/** CEL precedence: higher binds tighter. */
const PREC = { conditional: 1, or: 2, and: 3, relation: 4, add: 5, mul: 6, unary: 7, member: 8 } as const;
const CEL_IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CEL_RESERVED = new Set([
  'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace',
  'return', 'var', 'void', 'while', 'in', 'true', 'false', 'null',
]);
/** Python builtins that have a CEL function of another name. */
const RENAMED: Readonly<Record<string, string>> = { len: 'size', str: 'string', float: 'double' };
const RENAMED_METHODS: Readonly<Record<string, string>> = { startswith: 'startsWith', endswith: 'endsWith' };
/** Python functions and methods CEL has no form of (the rest, `split` for one, are left for the CEL check to judge). */
const NO_CEL_FUNCTIONS = new Set([
  'sum', 'min', 'max', 'sorted', 'reversed', 'any', 'all', 'abs', 'range', 'enumerate', 'zip', 'list', 'dict', 'tuple',
  'repr', 'hasattr', 'getattr', 'print', 'fail',
]);
const NO_CEL_METHODS = new Set([
  'lower', 'upper', 'strip', 'lstrip', 'rstrip', 'rsplit', 'replace', 'format', 'append', 'extend',
  'index', 'keys', 'values', 'items', 'pop', 'find', 'rfind', 'count', 'title', 'capitalize', 'removeprefix',
  'removesuffix', 'splitlines', 'update', 'setdefault', 'isdigit', 'isalpha', 'isspace', 'encode', 'decode',
]);

interface Written {
  text: string;
  prec: number;
}

class CelWriter {
  readonly rewrites: string[] = [];
  /** Whether a rewrite needed the tree (not just words). */
  treeRewrite = false;

  constructor(
    private readonly src: string,
    private readonly opts: StationRewriteOptions,
    private readonly where: Where,
  ) {}

  /** The CEL text of `e`, parenthesized when it binds looser than `min`. */
  write(e: Expr, min: number): string {
    const w = this.node(e);
    return w.prec < min ? `(${w.text})` : w.text;
  }

  private note(what: string, tree = true): void {
    if (!this.rewrites.includes(what)) this.rewrites.push(what);
    if (tree) this.treeRewrite = true;
  }

  private node(e: Expr): Written {
    const member = (text: string): Written => ({ text, prec: PREC.member });
    switch (e.kind) {
      case 'name':
        return member(this.name(e.name));
      case 'root':
        return member('ctx');
      case 'literal':
        return member(this.literal(e));
      case 'list':
        return member(`[${e.items.map((x) => this.write(x, 0)).join(', ')}]`);
      case 'dict':
        return member(`{${e.keys.map((k, i) => `${this.write(k, 0)}: ${this.write(e.values[i] as Expr, 0)}`).join(', ')}}`);
      case 'tuple':
        return this.unsupported(e, 'tuples');
      case 'attr': {
        const path = this.specialPath(e);
        if (path !== undefined) return member(path);
        const object = this.write(e.object, PREC.member);
        if (CEL_IDENT.test(e.name) && !CEL_RESERVED.has(e.name)) return member(`${object}${e.optional ? '.?' : '.'}${e.name}`);
        return member(`${object}[${e.optional ? '?' : ''}${JSON.stringify(e.name)}]`);
      }
      case 'index':
        if (e.index.kind === 'unary' && e.index.op === '-') return this.unsupported(e, 'negative indexes');
        return member(`${this.write(e.object, PREC.member)}[${e.optional ? '?' : ''}${this.write(e.index, 0)}]`);
      case 'slice':
        return this.unsupported(e, 'slices');
      case 'call':
        return member(this.call(e));
      case 'unary': {
        if (e.op === 'not' || e.op === '!') {
          if (e.op === 'not') this.note('and/or/not → &&/||/!', false);
          return { text: `!${this.write(e.operand, PREC.unary)}`, prec: PREC.unary };
        }
        if (e.op === '~') return this.unsupported(e, 'the ~ operator');
        if (e.op === '+') return this.node(e.operand);
        return { text: `-${this.write(e.operand, PREC.unary)}`, prec: PREC.unary };
      }
      case 'binary':
        return this.binary(e);
      case 'compare':
        return this.compare(e);
      case 'and':
      case 'or': {
        if (!e.cel) this.note('and/or/not → &&/||/!', false);
        const prec = e.kind === 'and' ? PREC.and : PREC.or;
        const op = e.kind === 'and' ? '&&' : '||';
        return { text: `${this.write(e.left, prec)} ${op} ${this.write(e.right, prec + 1)}`, prec };
      }
      case 'conditional': {
        if (!e.cel) this.note('A if C else B → C ? A : B');
        const text = `${this.write(e.test, PREC.or)} ? ${this.write(e.then, PREC.or)} : ${this.write(e.otherwise, PREC.conditional)}`;
        return { text, prec: PREC.conditional };
      }
      case 'comprehension':
        return this.unsupported(e, 'comprehensions');
    }
  }

  private literal(e: Extract<Expr, { kind: 'literal' }>): string {
    const v = e.value;
    if (v === null || typeof v === 'boolean') {
      if (e.raw === 'True' || e.raw === 'False' || e.raw === 'None') this.note('True/False/None → true/false/null', false);
      return String(v);
    }
    if (typeof v === 'string') return JSON.stringify(v);
    if (!e.float) return e.raw;
    const s = String(v);
    return /[.eE]|Infinity|NaN/.test(s) ? s : `${s}.0`;
  }

  /** A root identifier, with the aliases applied. */
  private name(name: string): string {
    if (this.opts.localRoots.has(name)) return name;
    if (this.opts.dataAliases && DATA_ALIASES.has(name)) {
      this.note(`${name} → data`);
      return 'data';
    }
    if (this.opts.stateAliases?.has(name)) {
      this.note(`${name} → steps.${name}`);
      return `steps.${name}`;
    }
    if (name === '_cronTriggeredAt') {
      this.note(`_cronTriggeredAt → ${CRON_TIME}`);
      return CRON_TIME;
    }
    return name;
  }

  /** `workflow.input`, `ctx.workflow.input` → `input`; `ctx._cronTriggeredAt` → the trigger time. */
  private specialPath(e: Extract<Expr, { kind: 'attr' }>): string | undefined {
    if (e.optional) return undefined;
    const o = e.object;
    if (e.name === 'input' && o.kind === 'attr' && !o.optional && o.name === 'workflow' && isName(o.object, 'ctx')) {
      this.note('workflow.input → input');
      return 'input';
    }
    if (e.name === 'input' && isName(o, 'workflow') && !this.opts.localRoots.has('workflow')) {
      this.note('workflow.input → input');
      return 'input';
    }
    if (e.name === '_cronTriggeredAt' && isName(o, 'ctx')) {
      this.note(`_cronTriggeredAt → ${CRON_TIME}`);
      return CRON_TIME;
    }
    return undefined;
  }

  private call(e: Extract<Expr, { kind: 'call' }>): string {
    const { callee, args } = e;
    if (e.kwargs.length > 0) return this.unsupported(e, 'keyword arguments');
    if (callee.kind === 'name' && !this.opts.localRoots.has(callee.name)) {
      const fn = callee.name;
      if ((fn === 'hasattr' && args.length === 2) || (fn === 'getattr' && args.length === 3)) {
        return this.attrTest(fn, args[0] as Expr, args[1] as Expr, args[2]);
      }
      if (fn === 'getattr' && args.length === 2) {
        this.note("getattr(x, 'k', d) → ctx.?x.?k.orValue(d)");
        return `${this.write(args[0] as Expr, PREC.member)}[${this.write(args[1] as Expr, 0)}]`;
      }
      const renamed = RENAMED[fn];
      if (renamed !== undefined) this.note(`${fn}() → ${renamed}()`);
      else if (NO_CEL_FUNCTIONS.has(fn)) return this.unsupported(e, `${fn}()`);
      return `${renamed ?? fn}(${args.map((a) => this.write(a, 0)).join(', ')})`;
    }
    if (callee.kind === 'attr' && !callee.optional) {
      const m = callee.name;
      const object = (): string => this.write(callee.object, PREC.member);
      if (m === 'get' && (args.length === 1 || args.length === 2)) {
        this.note("x.get('k', d) → x[?'k'].orValue(d)");
        const fallback = args[1] === undefined ? 'null' : this.write(args[1], 0);
        return `${object()}[?${this.write(args[0] as Expr, 0)}].orValue(${fallback})`;
      }
      // `", ".join(l)`: CEL joins from the list's side.
      if (m === 'join' && args.length === 1 && isString(callee.object)) {
        this.note('sep.join(l) → l.join(sep)');
        return `${this.write(args[0] as Expr, PREC.member)}.join(${this.write(callee.object, 0)})`;
      }
      const renamed = RENAMED_METHODS[m];
      if (renamed !== undefined) {
        this.note(`${m}() → ${renamed}()`);
        return `${object()}.${renamed}(${args.map((a) => this.write(a, 0)).join(', ')})`;
      }
      if (NO_CEL_METHODS.has(m)) return this.unsupported(e, `.${m}()`);
    }
    return `${this.write(callee, PREC.member)}(${args.map((a) => this.write(a, 0)).join(', ')})`;
  }

  /** `hasattr(p, 'k')` → `ctx.?p….?k.hasValue()`; `getattr(p, 'k', d)` → `ctx.?p….?k.orValue(d)`. */
  private attrTest(fn: 'hasattr' | 'getattr', object: Expr, key: Expr, fallback: Expr | undefined): string {
    this.note(fn === 'hasattr' ? "hasattr(x, 'k') → ctx.?x.?k.hasValue()" : "getattr(x, 'k', d) → ctx.?x.?k.orValue(d)");
    const segments = dotPath(object);
    let base: string;
    if (segments === undefined) {
      base = this.write(object, PREC.member);
    } else {
      const [root = '', ...rest] = segments;
      // A state alias roots the path at steps.<id>; the rest of the path stays as written.
      const path = [...this.name(root).split('.'), ...rest];
      const head = path[0] ?? '';
      const local = head === 'ctx' || this.opts.localRoots.has(head);
      const parts = local ? path : ['ctx', ...path];
      base = (parts[0] ?? '') + parts.slice(1).map((p) => optionalField(p)).join('');
    }
    const k = key.kind === 'literal' && typeof key.value === 'string' ? optionalField(key.value) : `[?${this.write(key, 0)}]`;
    return fn === 'hasattr' ? `${base}${k}.hasValue()` : `${base}${k}.orValue(${this.write(fallback as Expr, 0)})`;
  }

  private binary(e: Extract<Expr, { kind: 'binary' }>): Written {
    const { op } = e;
    if (op === '%' && (isString(e.left) || e.right.kind === 'tuple')) return this.unsupported(e, '% formatting');
    if (op === '+' || op === '-') {
      return { text: `${this.write(e.left, PREC.add)} ${op} ${this.write(e.right, PREC.add + 1)}`, prec: PREC.add };
    }
    if (op === '*' || op === '/' || op === '%') {
      return { text: `${this.write(e.left, PREC.mul)} ${op} ${this.write(e.right, PREC.mul + 1)}`, prec: PREC.mul };
    }
    return this.unsupported(e, `the ${op} operator`);
  }

  private compare(e: Extract<Expr, { kind: 'compare' }>): Written {
    if (e.ops.length > 1) this.note('a < b < c → a < b && b < c');
    const parts = e.ops.map((op, i) => {
      // A substring test: CEL's `in` is for lists and maps only.
      if ((op === 'in' || op === 'not in') && isString(e.operands[i + 1] as Expr)) return this.unsupported(e, 'substring tests');
      const left = this.write(e.operands[i] as Expr, PREC.relation + 1);
      const right = this.write(e.operands[i + 1] as Expr, PREC.relation + 1);
      if (op === 'not in') {
        this.note('x not in y → !(x in y)');
        return `!(${left} in ${right})`;
      }
      return `${left} ${op} ${right}`;
    });
    if (parts.length === 1) {
      const only = parts[0] ?? '';
      return { text: only, prec: e.ops[0] === 'not in' ? PREC.unary : PREC.relation };
    }
    return { text: parts.map((p) => (p.startsWith('!(') ? p : `(${p})`)).join(' && '), prec: PREC.and };
  }

  private unsupported(e: Expr, what: string): never {
    const shown = snippet(this.src, e);
    const reason = `${JSON.stringify(shown)} has no CEL equivalent in a ${this.where} (${what}): ${hint(this.where)}`;
    throw new ExpressionError('STN_E_EXPR_SYNTAX', reason, { expression: this.src, reason, offset: e.pos });
  }
}

function isName(e: Expr, name: string): boolean {
  return e.kind === 'name' && e.name === name;
}

function isString(e: Expr): boolean {
  return e.kind === 'literal' && typeof e.value === 'string';
}

function optionalField(key: string): string {
  return CEL_IDENT.test(key) && !CEL_RESERVED.has(key) ? `.?${key}` : `[?${JSON.stringify(key)}]`;
}

/** `a.b.c` → ['a', 'b', 'c']; anything else (calls, indexes, `$`) → undefined. */
function dotPath(e: Expr): string[] | undefined {
  if (e.kind === 'name') return [e.name];
  if (e.kind === 'attr' && !e.optional) {
    const head = dotPath(e.object);
    return head && [...head, e.name];
  }
  return undefined;
}

/** The source text of a node (its end found from its last child when the parser did not record it). */
function snippet(src: string, e: Expr): string {
  return src.slice(e.pos, endOf(e)).trim();
}

function endOf(e: Expr): number {
  if (e.end !== undefined) return e.end;
  switch (e.kind) {
    case 'binary':
    case 'and':
    case 'or':
      return endOf(e.right);
    case 'unary':
      return endOf(e.operand);
    case 'compare':
      return endOf(e.operands[e.operands.length - 1] as Expr);
    case 'conditional':
      return endOf(e.otherwise);
    case 'tuple':
      return e.items.length > 0 ? endOf(e.items[e.items.length - 1] as Expr) : e.pos + 2;
    default:
      return e.pos + 1;
  }
}
