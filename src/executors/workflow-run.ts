import type { JsonValue } from '../definitions/types.js';
import type { Executor } from './types.js';

/**
 * `workflow.run`: starts a child run linked to this one; with `wait` (default true) its output is the child's. The
 * child runs `version` when given, else the child workflow's active version (a parent's pin is its own only).
 */
export const workflowRun: Executor = {
  name: 'workflow.run',
  inline: (ctx) => {
    const input = ctx.input as { workflow: string; environment?: string; version?: number; input?: JsonValue; wait?: boolean };
    return {
      kind: 'suspend',
      wait: {
        type: 'child',
        workflow: input.workflow,
        environment: input.environment,
        version: input.version,
        input: input.input ?? {},
        wait: input.wait ?? true,
      },
    };
  },
  run: async (ctx) => workflowRun.inline?.(ctx) ?? { kind: 'ok', output: null },
};
