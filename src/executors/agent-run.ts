import { runAgent } from '../agents/run-agent.js';
import type { JsonObject, JsonValue } from '../definitions/types.js';
import { StepFailure } from '../errors.js';
import { failed, ok, type ExecContext, type ExecResult, type Executor } from './types.js';

interface AgentInput {
  agent: string;
  task?: string;
  variables?: JsonObject;
}

/**
 * agent.run: runs the agent `input.agent` (a dotprompt file of the run's environment or bundle, the version the run
 * pinned) on `input.task`, through its model provider with the MCP tools its prompt allows. Each model turn and each
 * tool call is committed to the step's journal as it completes: a delivery after a crash or restart goes on from the
 * last committed one, so a tool is not called twice and a turn is not paid for twice.
 */
export const agentRun: Executor = {
  name: 'agent.run',
  journaled: true,
  async run(ctx: ExecContext): Promise<ExecResult> {
    const host = ctx.agents;
    const journal = ctx.journal;
    if (!host || !journal) return failed('STN_E_EXECUTOR', 'agent.run needs the daemon\'s agent services and a step journal', { retryable: false });
    const input = ctx.input as unknown as AgentInput;
    const task = input.task ?? '';
    try {
      const { version, dir } = host.agent(ctx.runId, input.agent);
      const variables = { ...previousVariables(version.spec.inputSchema, ctx.previous), ...(input.variables ?? {}) };
      const result = await runAgent({ version, dir, task, variables, services: host, journal, signal: ctx.signal });
      return ok(result.output);
    } catch (err) {
      if (err instanceof StepFailure) return { kind: 'error', error: err.toExecError() };
      throw err;
    }
  },
};

/**
 * The previous output's keys as prompt variables (a step without a task works on what came before). When the agent
 * declares its input and allows no other keys (Picoschema's default), only the keys it declares are taken, so the rest
 * of that output (an agent's `response`, `agent_name`, ...) cannot fail the input check; the step's own variables win.
 */
function previousVariables(schema: JsonObject | undefined, previous: JsonValue | undefined): JsonObject {
  if (previous === null || typeof previous !== 'object' || Array.isArray(previous)) return {};
  if (!schema || schema.additionalProperties !== false) return { ...previous };
  const declared = schema.properties;
  if (declared === null || typeof declared !== 'object' || Array.isArray(declared)) return {};
  const out: JsonObject = {};
  for (const key of Object.keys(declared)) {
    const value = previous[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
