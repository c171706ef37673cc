import type {
  AgentDetail,
  AgentRunProgress,
  AgentRunResult,
  AgentSummary,
  AgentVersionSummary,
  ApprovalShape,
  CheckoutState,
  DecideResult,
  DefinitionDetail,
  DefinitionSummary,
  DiagnosticShape,
  EnvironmentSync,
  RunDetail,
  RunEventShape,
  RunSummary,
  Step,
  SyncReportShape,
  ValidateResult,
  VersionDetail,
  VersionSummary,
} from './shapes.js';

/**
 * The shapes the API answers with and `stn ... --json` prints, whichever client produced them: the Static types of the
 * API's response schemas (shapes.ts), so a view, the schema Fastify serializes with and the OpenAPI document cannot
 * drift apart.
 */
export type DiagnosticView = DiagnosticShape;
export type RunSummaryView = RunSummary;
export type StepView = Step;
export type RunDetailView = RunDetail;
export type EventView = RunEventShape;
export type DefinitionSummaryView = DefinitionSummary;
export type VersionSummaryView = VersionSummary;
export type VersionDetailView = VersionDetail;
export type DefinitionDetailView = DefinitionDetail;
export type ValidateResultView = ValidateResult;
export type CheckoutStateView = CheckoutState;
export type SyncEnvironmentView = EnvironmentSync;
export type SyncReportView = SyncReportShape;
export type ApprovalView = ApprovalShape;
export type DecisionView = DecideResult;
export type AgentSummaryView = AgentSummary;
export type AgentDetailView = AgentDetail;
export type AgentVersionSummaryView = AgentVersionSummary;
export type AgentRunProgressView = AgentRunProgress;
export type AgentRunResultView = AgentRunResult;
