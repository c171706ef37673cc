import { failed, type ExecResult, type Executor } from './types.js';

const run = (input: unknown): ExecResult => {
  const i = (input ?? {}) as { message?: string; code?: string };
  return failed(i.code ?? 'STN_E_FAIL', i.message ?? 'failed on purpose (fail action)');
};

/** `fail`: fails with `input.message` (and `input.code`), for testing rollback paths. */
export const fail: Executor = {
  name: 'fail',
  inline: (ctx) => run(ctx.input),
  run: async (ctx) => run(ctx.input),
};
