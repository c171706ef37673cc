import type { TSchema } from '@sinclair/typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approvalJson } from '../../src/approvals/types.js';
import { syncJson } from '../../src/views/sync.js';
import { eventJson, runDetailJson, runSummaryJson } from '../../src/views/runs.js';
import { validateDefinitionText } from '../../src/definitions/validate.js';
import { definitionDetailOf } from '../../src/client/lookup.js';
import { definitionSummary, validateResult, versionDetail, versionSummary } from '../../src/views/definitions.js';
import {
  ApprovalShape,
  DecideResult,
  DefinitionDetail,
  DefinitionSummary,
  RunDetail,
  RunEventShape,
  RunSummary,
  SyncReportShape,
  ValidateResult,
  VersionDetail,
  VersionSummary,
} from '../../src/views/shapes.js';
import { startTestDaemon, THREE_STEPS, type TestDaemon } from '../helpers/server-harness.js';
import { workflowPath } from '../helpers/workflow.js';

/**
 * Fastify serializes answers with the response schemas and drops what they do not declare. These tests call the real
 * routes of an in-process daemon and compare each answer with the view object the route serialized, field by field.
 */

type Node = { properties?: Record<string, Node>; items?: Node; anyOf?: Node[]; additionalProperties?: unknown; type?: unknown };

/** Paths in `value` that `schema` does not declare (a schema without properties, `{}` or an open object takes anything). */
function undeclared(value: unknown, schema: Node, at = ''): string[] {
  if (schema.anyOf) {
    const fits = schema.anyOf.map((s) => undeclared(value, s, at));
    return fits.find((f) => f.length === 0) ?? fits.flat();
  }
  if (Array.isArray(value)) return schema.items ? value.flatMap((v, i) => undeclared(v, schema.items as Node, `${at}[${i}]`)) : [];
  if (value === null || typeof value !== 'object' || !schema.properties) return [];
  return Object.entries(value).flatMap(([k, v]) => {
    const prop = schema.properties?.[k];
    return prop ? undeclared(v, prop, `${at}.${k}`) : [`${at}.${k}`];
  });
}

/** Every key path of a JSON value (array items collapsed), so two answers compare by structure, not by values. */
function keyPaths(value: unknown, at = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) value.forEach((v) => keyPaths(v, `${at}[]`, out));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.add(`${at}.${k}`);
      keyPaths(v, `${at}.${k}`, out);
    }
  }
  return out;
}

/** The view serialized by Fastify with `schema` kept every field of the view object. */
function expectAllServed(answer: { statusCode: number; body: string }, view: unknown, schema: TSchema): void {
  expect(answer.statusCode, answer.body).toBeLessThan(300);
  const plain = JSON.parse(JSON.stringify(view)) as unknown;
  expect(undeclared(plain, schema as Node), 'fields the response schema does not declare (src/views/shapes.ts)').toEqual([]);
  expect([...keyPaths(JSON.parse(answer.body))].sort()).toEqual([...keyPaths(plain)].sort());
}

const APPROVAL = `id: gate
version: "1"
name: Gate
states:
  - name: gate
    type: operation
    action: human.approval
    input: {message: "Ship?", channel: "#ops"}
    end: true
`;
/** Valid, with a warning (an unreachable state) so the sync report's warnings are filled in. */
const WARNED = `id: warned
version: "1"
name: Warned
states:
  - {name: a, type: operation, action: noop, end: true}
  - {name: orphan, type: operation, action: fail, input: {message: boom}, end: true}
`;

let t: TestDaemon;
let runId: string;

beforeAll(async () => {
  t = await startTestDaemon({
    files: {
      [workflowPath('default', 'three')]: THREE_STEPS,
      [workflowPath('default', 'gate')]: APPROVAL,
      [workflowPath('default', 'warned')]: WARNED,
      [workflowPath('default', 'broken')]: 'id: broken\nversion: "1"\nname: Broken\nstates: nope\n',
    },
  });
  const started = await t.request('POST', '/api/v1/workflow-runs?wait=10', { body: { workflowId: 'three', input: { n: 1 } } });
  runId = (started.json() as { id: string }).id;
});
afterAll(async () => {
  await t?.close();
});

describe('every field a view returns is in its response schema', () => {
  it('runs: show, list, events', async () => {
    const { station } = t;
    const run = station.runStore.run(runId);
    if (!run) throw new Error('no run');
    expectAllServed(await t.request('GET', `/api/v1/workflow-runs/${runId}`), runDetailJson(run, station.runStore.steps(runId)), RunDetail);
    const list = await t.request('GET', '/api/v1/workflow-runs?workflowId=three');
    expectAllServed({ ...list, body: JSON.stringify((list.json() as { items: unknown[] }).items[0]) }, runSummaryJson(run), RunSummary);
    const events = await t.request('GET', `/api/v1/workflow-runs/${runId}/events`);
    const served = (events.json() as { items: unknown[] }).items;
    const first = station.runStore.events(runId, 0, 1)[0];
    if (!first) throw new Error('no event');
    expectAllServed({ ...events, body: JSON.stringify(served[0]) }, eventJson(first), RunEventShape);
  });

  it('workflows: list, show, versions, one version, validate', async () => {
    const { station } = t;
    const d = station.definitions.definition('default', 'three');
    const v = d ? station.definitions.version('default', 'three', d.active_version ?? 0) : undefined;
    if (!d || !v) throw new Error('no definition');
    const list = await t.request('GET', '/api/v1/workflows?env=default');
    const items = (list.json() as { items: Array<{ id: string }> }).items;
    for (const item of items) expect(undeclared(item, DefinitionSummary as Node)).toEqual([]);
    const summary = definitionSummary({ ...d, label: v.label, git_commit: v.git_commit, name: v.name });
    expectAllServed({ ...list, body: JSON.stringify(items.find((i) => i.id === 'three')) }, summary, DefinitionSummary);
    expectAllServed(await t.request('GET', '/api/v1/workflows/three?env=default'), definitionDetailOf(station.definitions, d, undefined), DefinitionDetail);
    const broken = station.definitions.definition('default', 'broken');
    if (!broken) throw new Error('no broken definition');
    expectAllServed(await t.request('GET', '/api/v1/workflows/broken?env=default'), definitionDetailOf(station.definitions, broken, undefined), DefinitionDetail);
    const versions = await t.request('GET', '/api/v1/workflows/three/versions?env=default');
    const firstVersion = (versions.json() as { items: unknown[] }).items[0];
    expectAllServed({ ...versions, body: JSON.stringify(firstVersion) }, versionSummary(v, d.active_version), VersionSummary);
    expectAllServed(await t.request('GET', `/api/v1/workflows/three/versions/${v.version}?env=default`), versionDetail(v), VersionDetail);
    const text = WARNED;
    const validated = await t.request('POST', '/api/v1/workflows/validate', { body: { path: 'warned.workflow.yaml', content: text } });
    expectAllServed(validated, validateResult(validateDefinitionText(text, 'warned.workflow.yaml')), ValidateResult);
  });

  it('sync: the report of a dry run, with invalid files and warnings', async () => {
    const answer = await t.request('POST', '/api/v1/sync', { body: { dryRun: true } });
    const report = syncJson(await t.daemon.sync({ dryRun: true, source: 'api' }), { gitMissing: false, upstream: null, ahead: 0, behind: 0, diverged: false });
    const env = report.environments.find((e) => e.name === 'default');
    expect(env?.invalid.length).toBeGreaterThan(0);
    expect(env?.warnings.length).toBeGreaterThan(0);
    expectAllServed(answer, report, SyncReportShape);
  });

  it('the published OpenAPI document describes the answers with the same shapes', async () => {
    const doc = (await t.request('GET', '/api/v1/openapi.json')).json() as {
      paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: unknown }> }> }>>;
    };
    const answer = (route: string, method: string, status: string) =>
      doc.paths[route]?.[method]?.responses[status]?.content['application/json']?.schema;
    const plain = (schema: TSchema) => JSON.parse(JSON.stringify(schema)) as unknown;
    expect(answer('/api/v1/workflow-runs/{id}', 'get', '200')).toEqual(plain(RunDetail));
    expect(answer('/api/v1/workflows/{id}', 'get', '200')).toEqual(plain(DefinitionDetail));
    expect(answer('/api/v1/sync', 'post', '200')).toEqual(plain(SyncReportShape));
    expect(answer('/api/v1/workflow-approvals/{aid}', 'get', '200')).toEqual(plain(ApprovalShape));
  });

  it('approvals: a pending one, and the decision of an approve', async () => {
    const { station } = t;
    const started = await t.request('POST', '/api/v1/workflow-runs', { body: { workflowId: 'gate' } });
    const id = (started.json() as { id: string }).id;
    const deadline = Date.now() + 15_000;
    while (station.runStore.run(id)?.status !== 'WAITING_APPROVAL') {
      if (Date.now() > deadline) throw new Error('the run never waited for its approval');
      await new Promise((r) => setTimeout(r, 20));
    }
    const list = await t.request('GET', `/api/v1/workflow-runs/${id}/approvals`);
    const aid = (list.json() as { items: Array<{ id: string }> }).items[0]?.id ?? '';
    const view = () => approvalJson(station.approvals.get(aid), station.approvals.votes(aid));
    expectAllServed(await t.request('GET', `/api/v1/workflow-approvals/${aid}`), view(), ApprovalShape);
    const decided = await t.request('POST', `/api/v1/workflow-runs/${id}/approvals/${aid}/approve`, { body: { comment: 'ok' } });
    const body = decided.json() as { outcome: string; remaining: number; by: unknown };
    const expected = { outcome: body.outcome, remaining: body.remaining, by: body.by, approval: view() };
    expect(expected.approval.decision).not.toBeNull();
    expect(expected.approval.votes.length).toBe(1);
    expectAllServed(decided, expected, DecideResult);
  });
});
