import { expect, expectTypeOf, it } from 'vitest';
import { RunEvents, type RunEvent, type StepError, type StepErrorCode } from '../../src/engine/events.js';
import type { ErrorCode } from '../../src/errors.js';

/** The event map narrows: `e.type` decides the type of `e.data` (checked by `npm run typecheck`, run here too). */

const failed: RunEvent = {
  runId: 'r1',
  seq: 3,
  type: 'step:failed',
  stepId: 's1',
  data: { state: 'deploy', path: 'deploy', attempt: 2, error: { code: 'STN_E_STEP_TIMEOUT', message: 'too slow' } },
  at: '2026-01-01T00:00:00.000Z',
};

it('narrows the data of an event by its type', async () => {
  const events = new RunEvents();
  const seen: string[] = [];
  const off = events.on((e) => {
    if (e.type === 'step:failed') seen.push(`${e.data.path}: ${e.data.error.code}`);
    // @ts-expect-error -- run:paused carries no error
    if (e.type === 'run:paused') seen.push(String(e.data.error));
  });
  const next = events.next((e) => e.type === 'step:failed');
  events.emit(failed);
  off();
  expect(seen).toEqual(['deploy: STN_E_STEP_TIMEOUT']);
  const e = await next;
  if (e.type !== 'step:failed') throw new Error('not narrowed');
  expectTypeOf(e.data.error).toEqualTypeOf<StepError>();
  expectTypeOf(e.data.attempt).toBeNumber();
});

it("types a step error's code as Station's codes, open to the code a workflow's fail step names", () => {
  expectTypeOf<ErrorCode>().toExtend<StepErrorCode>();
  const authored: StepErrorCode = 'DEPLOY_LOCKED';
  expect(authored).toBe('DEPLOY_LOCKED');
});
