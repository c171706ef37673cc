import { describe, expect, it } from 'vitest';
import { AgentError } from '../../src/agents/errors.js';
import { buildStepOutput, outputCheck, parseReply } from '../../src/agents/output.js';

describe('structured output', () => {
  it('reads the whole reply as JSON, else its first fenced json block, else keeps the text', () => {
    expect(parseReply(' {"a": 1}\n')).toEqual({ value: { a: 1 }, json: true });
    expect(parseReply('[1, 2]')).toEqual({ value: [1, 2], json: true });
    expect(parseReply('Here it is:\n```json\n{"a": 2}\n```\nand another\n```json\n{"a": 3}\n```')).toEqual({ value: { a: 2 }, json: true });
    expect(parseReply('```JSON\r\n{"a": 4}```')).toEqual({ value: { a: 4 }, json: true });
    expect(parseReply('```json\n{broken\n```')).toEqual({ value: '```json\n{broken\n```', json: false });
    expect(parseReply('All quiet.')).toEqual({ value: 'All quiet.', json: false });
    expect(parseReply(null)).toEqual({ value: '', json: false });
  });

  it('checks S against the output schema with the error in words', () => {
    const check = outputCheck({ type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false }, 'counter');
    expect(check(parseReply('{"n": 3}'))).toBeUndefined();
    expect(check(parseReply('{"n": "3", "x": 1}'))).toBe('/: must NOT have additional properties (x); /n: must be integer');
    expect(check(parseReply('three'))).toBe('the reply is not JSON (/: must be object)');
    // The same schema text compiles once, whichever object holds it.
    expect(outputCheck({ type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false }, 'counter')(parseReply('{"n": 1}'))).toBeUndefined();
  });

  it('refuses an output schema that is not a JSON Schema', () => {
    let err: unknown;
    try {
      outputCheck({ type: 'no-such-type' }, 'broken');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe('STN_E_AGENT_OUTPUT');
    expect((err as AgentError).message).toMatch(/^agent "broken": the output schema is not a valid JSON Schema: /);
  });

  it('spreads an object S at the top; metadata keys win and S stays whole under result', () => {
    const s = { summary: 'Disk full', model: 'the model S named', usage: 'S usage', response: 'S response' };
    const out = buildStepOutput({
      response: JSON.stringify(s),
      result: s,
      agentName: 'triage',
      model: 'local/qwen3',
      stepCount: 3,
      toolsUsed: 2,
      usage: { inputTokens: 100, outputTokens: 20 },
    });
    expect(out).toEqual({
      summary: 'Disk full',
      response: JSON.stringify(s),
      result: s,
      agent_name: 'triage',
      model: 'local/qwen3',
      step_count: 3,
      tools_used: 2,
      usage: { input_tokens: 100, output_tokens: 20, total_tokens: 120 },
    });
  });

  it('does not spread a text, list or number S', () => {
    for (const s of ['text', [1, 2], 7, null]) {
      const out = buildStepOutput({ response: 'r', result: s, agentName: 'a', model: 'p/m', stepCount: 1, toolsUsed: 0, usage: { inputTokens: 0, outputTokens: 0 } });
      expect(Object.keys(out)).toEqual(['response', 'result', 'agent_name', 'model', 'step_count', 'tools_used', 'usage']);
      expect(out.result).toEqual(s);
    }
  });

  it('keeps a __proto__ key of S under result only', () => {
    const s = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}') as Record<string, unknown>;
    const out = buildStepOutput({ response: 'r', result: s as never, agentName: 'a', model: 'p/m', stepCount: 1, toolsUsed: 0, usage: { inputTokens: 0, outputTokens: 0 } });
    expect(Object.keys(out)).toContain('ok');
    expect(Object.prototype.hasOwnProperty.call(out, '__proto__')).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
