import { Composer, Parser, YAMLParseError, type Document, type LineCounter } from 'yaml';
import type { CST } from 'yaml';
import { yamlNestingBound } from '../nesting.js';

/**
 * The `yaml` package composes documents recursively with no depth limit, and somewhere past a thousand levels V8
 * aborts the process. Its lexer and CST parser are iterative, though, so a text can be measured safely before it is
 * composed. Below this depth composing is safe with a wide margin (even on a worker thread's stack).
 */
const SAFE_DEPTH = 400;

/**
 * `parseDocument`, unless the text could nest deeper than the `yaml` package composes safely: then undefined. A cheap
 * linear bound (src/nesting.ts) clears almost every file; one it does not clear is measured exactly on its CST when
 * `measure` is set (the CST parser is slow on deeply nested text, so error paths pass false and give up instead).
 */
export function boundedParseDocument(
  text: string,
  lineCounter: LineCounter,
  options: { uniqueKeys: boolean; merge: boolean },
  measure: boolean,
): Document | undefined {
  const bounded = yamlNestingBound(text) <= SAFE_DEPTH;
  if (!bounded && !measure) return undefined;
  const tokens = Array.from(new Parser(lineCounter.addNewLine).parse(text));
  if (!bounded && cstDepth(tokens) > SAFE_DEPTH) return undefined;
  // What parseDocument does with the tokens: the first document, and an error if another one follows.
  let first: Document | undefined;
  for (const doc of new Composer({ ...options, prettyErrors: false }).compose(tokens, true, text.length)) {
    if (!first) {
      first = doc;
      continue;
    }
    const message = 'Source contains multiple documents; please use YAML.parseAllDocuments()';
    first.errors.push(new YAMLParseError([doc.range[0], doc.range[1]], 'MULTIPLE_DOCS', message));
    break;
  }
  return first;
}

/** How deeply collections nest in a CST, measured without recursion. */
export function cstDepth(tokens: CST.Token[]): number {
  let max = 0;
  const stack: Array<[CST.Token | undefined, number]> = tokens.map((t) => [t, 0]);
  while (stack.length > 0) {
    const [token, depth] = stack.pop() as [CST.Token | undefined, number];
    if (!token) continue;
    if (token.type === 'document') {
      stack.push([token.value, depth]);
    } else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      const inner = depth + 1;
      if (inner > max) max = inner;
      for (const item of token.items) {
        if ('key' in item) stack.push([item.key ?? undefined, inner]);
        stack.push([item.value, inner]);
      }
    }
  }
  return max;
}
