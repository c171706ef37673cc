import type { JsonValue } from '../definitions/types.js';
import { ok, type Executor } from './types.js';

/** `noop`: does nothing; its output is its input (or `{}`). */
export const noop: Executor = {
  name: 'noop',
  inline: (ctx) => ok(ctx.input ?? ({} as JsonValue)),
  run: async (ctx) => ok(ctx.input ?? ({} as JsonValue)),
};
