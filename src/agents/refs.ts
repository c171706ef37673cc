import type { State } from '../definitions/types.js';

export type OperationState = Extract<State, { type: 'operation' }>;

/** Every operation state of a workflow, in every scope (parallel branches, foreach iterators), in file order. */
export function operationStates(states: State[]): OperationState[] {
  const out: OperationState[] = [];
  const stack = [...states];
  while (stack.length > 0) {
    const s = stack.pop() as State;
    if (s.type === 'operation') out.push(s);
    else if (s.type === 'parallel') for (const b of s.branches) stack.push(...b.states);
    else if (s.type === 'foreach') stack.push(...s.iterator.states);
  }
  return out.reverse();
}

/** Whether a value is made at run time (`{{ }}`, or `${ }` as some Station files write it). */
export const isTemplated = (s: string): boolean => s.includes('{{') || s.includes('${');

/**
 * The agent references (`input.agent`: `name` or `name@env`) a workflow writes literally, in its agent.run steps and
 * compensations, once each. A templated one is known only when its step runs.
 */
export function literalAgentRefs(states: State[]): string[] {
  const refs = new Set<string>();
  for (const s of operationStates(states)) {
    for (const call of [s, s.compensation]) {
      if (call?.action !== 'agent.run') continue;
      const input = call.input;
      const ref = input !== null && typeof input === 'object' && !Array.isArray(input) ? input.agent : undefined;
      if (typeof ref === 'string' && !isTemplated(ref)) refs.add(ref);
    }
  }
  return [...refs];
}
