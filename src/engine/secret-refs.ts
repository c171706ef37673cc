import type { JsonValue } from '../definitions/types.js';
import { collectTemplateExpressions } from '../expressions/index.js';

/** `secrets.NAME`, `secrets["NAME"]` or `secrets['NAME']` inside a CEL expression. */
const REFERENCE = /\bsecrets\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:"([^"]*)"|'([^']*)')\s*\])/g;
/** `has(secrets.NAME)`: the template copes with the secret being absent. */
const PRESENCE_TEST = /\bhas\s*\(\s*secrets\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)/g;

const known = new WeakMap<object, readonly string[]>();

/**
 * The secrets an operation's input needs: every name read as `secrets.NAME` in its `{{ }}` templates, except names
 * the template tests with `has(secrets.NAME)` (it copes without them). A name computed at run time
 * (`secrets[input.which]`) cannot be known here. Cached per input object: definitions are immutable once loaded.
 */
export function secretsNeeded(input: JsonValue | undefined): readonly string[] {
  if (input === undefined || input === null) return NONE;
  if (typeof input !== 'object') return scan(input);
  let names = known.get(input);
  if (!names) {
    names = scan(input);
    known.set(input, names);
  }
  return names;
}

const NONE: readonly string[] = Object.freeze([]);

function scan(input: JsonValue): readonly string[] {
  const needed = new Set<string>();
  const optional = new Set<string>();
  for (const e of collectTemplateExpressions(input, '')) {
    if (!('source' in e) || !e.source.includes('secrets')) continue;
    for (const m of e.source.matchAll(PRESENCE_TEST)) if (m[1]) optional.add(m[1]);
    for (const m of e.source.matchAll(REFERENCE)) {
      const name = m[1] ?? m[2] ?? m[3];
      if (name) needed.add(name);
    }
  }
  for (const name of optional) needed.delete(name);
  return needed.size === 0 ? NONE : Object.freeze([...needed].sort());
}
