import { afterEach, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/engine/events.js';
import { AGENT_LABEL_CAP, Metrics } from '../../src/server/metrics.js';
import { StatsStore } from '../../src/store/stats.js';
import { EngineHarness } from '../helpers/engine-harness.js';

/**
 * The agent metrics' labels stay bounded whatever the agent files and the models name: a daemon's series must not
 * grow with names it sees (the end-to-end counts through GET /metrics are in test/e2e/agents-visible.test.ts).
 */

let h: EngineHarness | undefined;
let metrics: Metrics | undefined;
afterEach(async () => {
  metrics?.close();
  await h?.close();
  h = undefined;
  metrics = undefined;
});

function setup(): { metrics: Metrics; emit: (e: RunEvent) => void } {
  h = EngineHarness.create({ startEngine: false });
  const s = h.station;
  metrics = new Metrics({ stats: new StatsStore(s.db), runStore: s.runStore, events: s.events, defaultMetrics: false });
  return { metrics, emit: (e) => s.events.emit(e) };
}

let seq = 0;
function toolEvent(agent: string, tool: string, ok: boolean, result = 'done'): RunEvent {
  return {
    runId: 'r1', seq: ++seq, type: 'agent:tool', stepId: 's1', at: new Date().toISOString(),
    data: { attempt: 1, agent, kind: 'tool', turn: 1, callId: `c${seq}`, tool, arguments: {}, ok, result, latencyMs: 5 },
  };
}
function turnEvent(agent: string, provider: string): RunEvent {
  return {
    runId: 'r1', seq: ++seq, type: 'agent:turn', stepId: 's1', at: new Date().toISOString(),
    data: { attempt: 1, agent, kind: 'turn', turn: 1, model: 'm', provider, message: { content: 'hi', toolCalls: [] }, usage: { inputTokens: 3, outputTokens: 2 }, latencyMs: 40 },
  };
}

function series(text: string, metric: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${metric}{`));
}

describe('agent metrics labels', () => {
  it('tool names the agent does not have count as (unknown), whatever the model invents', async () => {
    const { metrics, emit } = setup();
    for (let i = 0; i < 50; i++) emit(toolEvent('ops', `made_up_${i}`, false, `STN_E_AGENT_UNKNOWN_TOOL: no tool "made_up_${i}"`));
    emit(toolEvent('ops', 'fx/echo', true));
    const text = await metrics.text();
    expect(series(text, 'station_agent_tool_calls_total')).toEqual([
      'station_agent_tool_calls_total{agent="ops",tool="(unknown)",outcome="error"} 50',
      'station_agent_tool_calls_total{agent="ops",tool="fx/echo",outcome="ok"} 1',
    ]);
  });

  it(`past ${AGENT_LABEL_CAP} agents or tools, further ones count as (other)`, async () => {
    const { metrics, emit } = setup();
    for (let i = 0; i < AGENT_LABEL_CAP + 30; i++) {
      emit(turnEvent(`agent-${i}`, 'fixture'));
      emit(toolEvent('agent-0', `srv/tool-${i}`, true));
    }
    const text = await metrics.text();
    const calls = series(text, 'station_agent_model_calls_total');
    expect(calls).toHaveLength(AGENT_LABEL_CAP + 1);
    expect(calls).toContain('station_agent_model_calls_total{agent="(other)",provider="fixture"} 30');
    expect(calls).toContain('station_agent_model_calls_total{agent="agent-0",provider="fixture"} 1');
    expect(series(text, 'station_agent_tokens_total')).toContain('station_agent_tokens_total{agent="(other)",provider="fixture",direction="input"} 90');
    const tools = series(text, 'station_agent_tool_calls_total');
    expect(tools).toHaveLength(AGENT_LABEL_CAP + 1);
    expect(tools).toContain('station_agent_tool_calls_total{agent="agent-0",tool="(other)",outcome="ok"} 30');
  });
});
