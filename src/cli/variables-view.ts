/** How run variables read in `stn sync` and `stn workflows show`. */
import type { DefinitionDetailView, SyncEnvironmentView } from '../views/types.js';
import { shortSha } from './output.js';

const MAX_VALUE = 80;

/** A value as one short line of JSON. */
export function variableValue(v: unknown): string {
  const text = JSON.stringify(v) ?? 'undefined';
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 3)}...` : text;
}

/** The lines of a sync's variables report: the new revision, then one line per changed variable. */
export function variableLines(v: SyncEnvironmentView['variables']): string[] {
  if (!v?.changed || v.changes.length === 0) return [];
  const lines = [`revision ${v.revision ?? '-'}: ${v.changes.length} change(s)`];
  for (const c of v.changes) {
    const name = `${c.scope === null ? '' : `[${c.scope}] `}${c.name}`;
    if (c.change === 'added') lines.push(`  + ${name} = ${variableValue(c.to)}`);
    else if (c.change === 'removed') lines.push(`  - ${name} (was ${variableValue(c.from)})`);
    else lines.push(`  ~ ${name}: ${variableValue(c.from)} -> ${variableValue(c.to)}`);
  }
  return lines;
}

/** `stn workflows show`: the variables the active version's runs start with now. */
export function pinnedVariableLines(p: DefinitionDetailView['variables']): string[] {
  if (!p) return ['variables: none pinned yet (run "stn sync"); new runs reuse the vars of this workflow\'s newest run'];
  const dirty = p.dirty ? ' (uncommitted changes)' : '';
  const names = Object.keys(p.vars).sort();
  const lines = [`variables: environment revision ${p.revision}, commit ${shortSha(p.commit)}${dirty}, synced ${p.syncedAt}${names.length === 0 ? ': none' : ''}`];
  for (const n of names) lines.push(`  ${n} = ${variableValue(p.vars[n])}  (${p.sources[n] ?? '?'})`);
  return lines;
}
