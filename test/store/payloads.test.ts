import { describe, expect, it } from 'vitest';
import { StationError } from '../../src/errors.js';
import { readPayload, readTaskPayload, wakeReasonOf, writeTaskPayload } from '../../src/store/payloads.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof StationError ? err.code : 'not a StationError';
  }
  return undefined;
}

describe('stored payloads', () => {
  it('reads a payload without a version field as version 1, and version 1 as written', () => {
    expect(readTaskPayload({ kind: 'wake', payload: '{"reason":"timer"}' })).toEqual({ reason: 'timer' });
    expect(readPayload('step wait', '{"v":1,"type":"timer","until":5}')).toEqual({ v: 1, type: 'timer', until: 5 });
    expect(readTaskPayload({ kind: 'start', payload: null })).toBeNull();
    expect(readTaskPayload({ kind: 'wake', payload: writeTaskPayload('wake', { reason: 'step-timeout', attempt: 2 }) })).toEqual({ reason: 'step-timeout', attempt: 2 });
    expect(writeTaskPayload('cancel', { compensate: true, by: 'ops' })).toBe('{"v":1,"compensate":true,"by":"ops"}');
  });

  it('refuses a payload missing what its kind needs', () => {
    expect(codeOf(() => readTaskPayload({ kind: 'wake', payload: '{"v":1,"reason":"approval"}' }))).toBe('STN_E_STORED_PAYLOAD');
    expect(codeOf(() => readTaskPayload({ kind: 'signal', payload: '{"v":1}' }))).toBe('STN_E_STORED_PAYLOAD');
    expect(codeOf(() => readTaskPayload({ kind: 'child', payload: '{"v":1,"childRunId":7}' }))).toBe('STN_E_STORED_PAYLOAD');
  });

  it('refuses an unknown version, a payload that is not an object and one that is not JSON', () => {
    expect(codeOf(() => readTaskPayload({ kind: 'wake', payload: '{"v":2,"reason":"timer"}' }))).toBe('STN_E_STORED_PAYLOAD');
    expect(codeOf(() => readPayload('step wait', '[1]'))).toBe('STN_E_STORED_PAYLOAD');
    expect(codeOf(() => readPayload('step wait', '{"type":'))).toBe('STN_E_STORED_PAYLOAD');
  });

  it('refuses an unknown wake reason instead of treating it as a timer', () => {
    expect(wakeReasonOf('signal-timeout')).toBe('signal-timeout');
    expect(codeOf(() => wakeReasonOf('tick'))).toBe('STN_E_STORED_PAYLOAD');
    expect(codeOf(() => wakeReasonOf(undefined))).toBe('STN_E_STORED_PAYLOAD');
  });
});
