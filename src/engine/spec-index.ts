import type { State, WorkflowSpec } from '../definitions/types.js';

/** The states of one scope (top level, a parallel branch, a foreach iterator) of a definition. */
export interface ScopeDef {
  states: State[];
  start: string;
  byName: Map<string, State>;
}

/** Every scope of a definition by its def path ('' top level, `fanout/branch:logs`, `sweep/iterator`). */
export function indexSpec(spec: WorkflowSpec): Map<string, ScopeDef> {
  const out = new Map<string, ScopeDef>();
  const add = (defPath: string, states: State[], start: string | undefined) => {
    out.set(defPath, { states, start: start ?? states[0]?.name ?? '', byName: new Map(states.map((s) => [s.name, s])) });
    for (const s of states) {
      const base = defPath === '' ? s.name : `${defPath}/${s.name}`;
      if (s.type === 'parallel') for (const b of s.branches) add(`${base}/branch:${b.name}`, b.states, b.start);
      else if (s.type === 'foreach') add(`${base}/iterator`, s.iterator.states, s.iterator.start);
    }
  };
  add('', spec.states, spec.start);
  return out;
}

export function childDefPath(defPath: string, stateName: string, child: string): string {
  return `${defPath === '' ? stateName : `${defPath}/${stateName}`}/${child}`;
}
