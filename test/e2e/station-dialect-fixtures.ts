import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import type { JsonValue } from '../../src/definitions/types.js';
import { EngineHarness, type RunResult } from '../helpers/engine-harness.js';
import { PROJECT_ROOT } from '../helpers/procs.js';

/**
 * The Station-dialect fixture repository (test/fixtures/station-dialect/) and what its tests share: a harness with
 * the tree copied in and synced, and the expected step output of a fixture agent's reply.
 */

export const FIXTURES = path.join(PROJECT_ROOT, 'test', 'fixtures', 'station-dialect');
export const WORKFLOWS_DIR = path.join(FIXTURES, 'environments', 'default', 'workflows');

/** The workflow files written in Station-TS's own format: no notes, none of the Station-compatible semantics. */
export const NATIVE_FILES = ['native-output-invalid.workflow.yaml', 'native-output-valid.workflow.yaml'];

/** Every usage the fixture replies give (fixed, so agent outputs are exact). */
const USAGE = { input_tokens: 20, output_tokens: 8, total_tokens: 28 };

/** An in-process Station on a copy of the fixture repository, synced; any file that does not validate fails it. */
export async function openFixtures(): Promise<EngineHarness> {
  const h = EngineHarness.create();
  fs.cpSync(path.join(FIXTURES, 'environments'), path.join(h.dir, 'environments'), { recursive: true });
  const report = await h.sync();
  // h.sync() fails on invalid workflow files; an agent file that does not parse would only fail its steps later.
  const badAgents = report.environments.flatMap((e) => e.agents?.invalid ?? []);
  expect(badAgents).toEqual([]);
  return h;
}

/**
 * The output of an agent.run step whose fixture answered `reply` in one turn: S spread at the top when it is an
 * object, then response, result, agent_name, model (the fixture provider's default model), step_count, tools_used
 * and usage. A `json:` reply is sent as its JSON text; a `content:` reply is text, parsed when it is JSON.
 */
export function agentOutput(agent: string, reply: { json: JsonValue } | { content: string }): Record<string, JsonValue> {
  let response: string;
  let s: JsonValue;
  if ('json' in reply) {
    response = JSON.stringify(reply.json);
    s = reply.json;
  } else {
    response = reply.content;
    try {
      s = JSON.parse(reply.content) as JsonValue;
    } catch {
      s = reply.content;
    }
  }
  const spread = s !== null && typeof s === 'object' && !Array.isArray(s) ? s : {};
  return {
    ...spread,
    response,
    result: s,
    agent_name: agent,
    model: 'fixture/fixture',
    step_count: 1,
    tools_used: 0,
    usage: USAGE,
  };
}

/** What a compat-mode run stores under `steps.`: `{...O, output: O}` for an object O, else `{output: O}`. */
export function compatRecord(output: JsonValue): Record<string, JsonValue> {
  return output !== null && typeof output === 'object' && !Array.isArray(output) ? { ...output, output } : { output };
}

/** Asserts that the run completed; when it did not, the message shows the run's error and every step error. */
export function expectCompleted(r: RunResult): void {
  const failures = r.steps.filter((s) => s.error !== null).map((s) => `${s.path}: ${s.error?.code} ${s.error?.message}`);
  expect(r.status, `run ${r.run.workflow_id}: ${JSON.stringify(r.error)}\n${failures.join('\n')}`).toBe('COMPLETED');
}

/** The names of the states a run entered at the top level, in order (the route it took). */
export function route(r: RunResult): string[] {
  return r.steps.filter((s) => !s.path.includes('/') && !s.path.includes('[')).map((s) => s.state_name);
}

/** The data of every event of a type, in order. */
export function eventsOf(r: RunResult, type: string): Array<Record<string, unknown>> {
  return r.events.filter((e) => e.type === type).map((e) => e.data);
}

/** An ISO-8601 UTC timestamp as Station writes them. */
export const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** The `steps` record of the run's root context. */
export function steps(r: RunResult): Record<string, unknown> {
  return r.context.steps as Record<string, unknown>;
}
