import type { JournalEntry } from '../agents/types.js';
import type { Diagnostic } from '../definitions/types.js';
import type { AgentRow, AgentVersionRow, AgentVersionSummaryRow } from '../store/agents.js';
import { diagnosticJson } from './definitions.js';
import type { AgentDetailView, AgentRunProgressView, AgentSummaryView, AgentVersionSummaryView } from './types.js';

/** API shapes of agents; `stn agents list|show|versions --json` print the same. */

function diagnostics(a: Pick<AgentRow, 'error'>): Diagnostic[] {
  return a.error ? (JSON.parse(a.error) as Diagnostic[]) : [];
}

const bundleOf = (scope: string) => (scope === '' ? null : scope);
const flag = (v: number | null) => (v === null ? null : v === 1);

export function agentSummary(r: AgentRow & { git_commit: string | null; model: string | null }): AgentSummaryView {
  const e = diagnostics(r)[0];
  return {
    environment: r.environment,
    name: r.name,
    bundle: bundleOf(r.scope),
    status: r.status,
    version: r.active_version,
    model: r.model,
    commit: r.git_commit,
    path: r.path,
    error: e ? `${r.path}:${e.line}:${e.col}: ${e.code}: ${e.message}` : null,
  };
}

function origin(v: AgentVersionSummaryRow) {
  return {
    commit: v.git_commit,
    dirty: flag(v.git_dirty),
    untracked: flag(v.git_untracked),
    contentHash: v.content_hash,
    path: v.path,
    createdAt: v.created_at,
  };
}

export function agentVersionSummary(v: AgentVersionSummaryRow, activeVersion: number | null): AgentVersionSummaryView {
  return { id: v.id, version: v.version, active: v.version === activeVersion, ...origin(v) };
}

export function agentDetail(a: AgentRow, v: AgentVersionRow | undefined): AgentDetailView {
  return {
    environment: a.environment,
    name: a.name,
    bundle: bundleOf(a.scope),
    status: a.status,
    activeVersion: a.active_version,
    latestVersion: a.latest_version,
    path: a.path,
    errors: diagnostics(a).map(diagnosticJson),
    version: v ? { id: v.id, version: v.version, ...origin(v), spec: JSON.parse(v.spec) as unknown, raw: v.raw } : null,
  };
}

/** The start of a tool result shown as progress. */
const RESULT_PREVIEW = 200;

/** A model turn or tool call of `stn agents run`, as it completes. */
export function agentRunProgress(entry: JournalEntry): AgentRunProgressView {
  if (entry.kind === 'turn') {
    return {
      type: 'turn',
      turn: entry.turn,
      provider: entry.provider,
      model: entry.model,
      inputTokens: entry.usage.inputTokens,
      outputTokens: entry.usage.outputTokens,
      latencyMs: entry.latencyMs,
      toolCalls: entry.message.toolCalls.map((c) => c.name),
    };
  }
  const result = entry.result.length > RESULT_PREVIEW ? `${entry.result.slice(0, RESULT_PREVIEW - 1)}…` : entry.result;
  return { type: 'tool', turn: entry.turn, tool: entry.tool, ok: entry.ok, latencyMs: entry.latencyMs, result };
}
