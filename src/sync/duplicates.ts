import type { Diagnostic } from '../definitions/types.js';
import type { DefinitionWithHash } from '../store/definitions.js';
import type { FileState } from './files.js';
import type { EnvironmentReport } from './report.js';

/**
 * Two files with one id: the file that already holds the id (the definition's recorded path) keeps it, so a new file
 * copied from an existing one cannot take over the live definition; when neither holds it, the first by path does.
 * Both are reported: the other file as invalid (STN_E_DUPLICATE_ID), the keeper with a warning.
 */
export function resolveDuplicates(
  states: FileState[],
  defs: Map<string, DefinitionWithHash>,
  report: EnvironmentReport,
): { winners: Map<string, FileState>; warnings: Map<FileState, Diagnostic[]> } {
  const byId = new Map<string, FileState[]>();
  for (const st of states) {
    if (st.id === null) continue;
    const group = byId.get(st.id);
    if (group) group.push(st);
    else byId.set(st.id, [st]);
  }
  const winners = new Map<string, FileState>();
  const warnings = new Map<FileState, Diagnostic[]>();
  for (const [id, group] of byId) {
    const first = group[0] as FileState;
    if (group.length === 1) {
      winners.set(id, first);
      continue;
    }
    const holder = defs.get(id)?.path;
    const keeper = group.find((st) => st.file.path === holder) ?? first;
    const why = keeper.file.path === holder ? 'it already holds the id' : 'first by path';
    winners.set(id, keeper);
    for (const st of group) {
      if (st === keeper) continue;
      const dup: Diagnostic = {
        severity: 'error',
        code: 'STN_E_DUPLICATE_ID',
        message: `workflow id "${id}" is also declared by ${keeper.file.path}, which keeps it (${why}): give this file another id`,
        line: 1,
        col: 1,
      };
      report.invalid.push({ path: st.file.path, id, errors: [dup, ...st.errors], activeVersion: null });
      const message = `workflow id "${id}" is also declared by ${st.file.path}; this file keeps it (${why})`;
      warnings.set(keeper, [...(warnings.get(keeper) ?? []), { ...dup, severity: 'warning', message }]);
    }
  }
  return { winners, warnings };
}
