import { describe, expect, it } from 'vitest';
import { isInitiator } from '../../src/approvals/service.js';

const oncall = { source: 'api' as const, id: 'oncall', name: 'oncall' };

describe('who started the run (allowSelfApproval: false)', () => {
  it('matches the person who started it, ignoring case and a source prefix', () => {
    expect(isInitiator('oncall', oncall)).toBe(true);
    expect(isInitiator('api:OnCall', oncall)).toBe(true);
    expect(isInitiator('cli:alice', { source: 'slack', id: 'U1', name: 'Alice Smith', email: 'alice@example.com' })).toBe(true);
    expect(isInitiator('cli:bob', oncall)).toBe(false);
    expect(isInitiator(null, oncall)).toBe(false);
  });

  it('never treats a cron or webhook trigger as a person, even one named like the decider', () => {
    expect(isInitiator('webhook:oncall', oncall)).toBe(false);
    expect(isInitiator('cron:oncall', oncall)).toBe(false);
  });
});
