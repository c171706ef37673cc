import type { Executor } from './types.js';

/**
 * `sleep`: a durable timer. The deadline counts from the first delivery of the attempt (`ctx.startedAt`, kept across
 * redeliveries), so a sleep that spans a crash still fires once, at its deadline.
 */
export const sleep: Executor = {
  name: 'sleep',
  inline: (ctx) => {
    const input = ctx.input as { seconds?: number; until?: string };
    const until = input.until !== undefined ? Date.parse(input.until) : ctx.startedAt + (input.seconds ?? 0) * 1000;
    return { kind: 'suspend', wait: { type: 'timer', until } };
  },
  run: async (ctx) => sleep.inline?.(ctx) ?? { kind: 'ok', output: {} },
};
