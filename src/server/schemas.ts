/**
 * The response schemas of the API routes. Fastify serializes responses with them and @fastify/swagger turns them
 * into the OpenAPI document; they are the TypeBox shapes of src/views/shapes.ts, whose Static types the view
 * functions return, so a schema and its view cannot drift apart.
 */
import {
  ApprovalShape,
  DecideResult,
  DefinitionDetail,
  DefinitionSummary,
  ErrorShape,
  Page,
  RunDetail,
  RunEventShape,
  RunSummary,
  Step,
  SyncReportShape,
  ValidateResult,
  VersionDetail,
  VersionSummary,
} from '../views/shapes.js';

export const errorSchema = ErrorShape;
export const runSummarySchema = RunSummary;
export const stepSchema = Step;
export const runDetailSchema = RunDetail;
export const eventSchema = RunEventShape;
export const definitionSummarySchema = DefinitionSummary;
export const versionSummarySchema = VersionSummary;
export const versionDetailSchema = VersionDetail;
export const definitionDetailSchema = DefinitionDetail;
export const validateResultSchema = ValidateResult;
export const syncReportSchema = SyncReportShape;
export const approvalSchema = ApprovalShape;
export const decideResultSchema = DecideResult;

/** `{items, nextCursor}` around an item schema. */
export const pageOf = Page;

/** Error answers documented on every route (4xx/5xx share one shape). */
export const errorResponses = {
  400: errorSchema,
  401: errorSchema,
  403: errorSchema,
  404: errorSchema,
  500: errorSchema,
} as const;
