import type { Executor } from './types.js';

/** `signal.wait`: waits until a signal with this name is delivered (API/CLI); its payload is the step's output. */
export const signalWait: Executor = {
  name: 'signal.wait',
  inline: (ctx) => {
    const input = ctx.input as { name: string; timeoutSeconds?: number };
    const timeoutAt = input.timeoutSeconds !== undefined ? ctx.startedAt + input.timeoutSeconds * 1000 : undefined;
    return { kind: 'suspend', wait: { type: 'signal', name: input.name, timeoutAt } };
  },
  run: async (ctx) => signalWait.inline?.(ctx) ?? { kind: 'ok', output: null },
};
