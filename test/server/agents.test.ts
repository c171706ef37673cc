import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/server-harness.js';

let t: TestDaemon;

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
interface AgentJson {
  environment: string;
  name: string;
  bundle: string | null;
  status: string;
  version: number | null;
  model: string | null;
  error: string | null;
}

const agent = (model: string) => `---\nmodel: ${model}\ninput:\n  schema:\n    service: string\n---\nTriage {{service}}: {{userInput}}\n`;

beforeAll(async () => {
  t = await startTestDaemon({
    engine: false,
    files: {
      'environments/default/agents/triage.prompt': agent('fixture/default'),
      'environments/default/agents/broken.prompt': '---\nmodel: [x\n---\nhi\n',
      'environments/staging/agents/triage.prompt': agent('fixture/staging'),
      'environments/staging/environment.yaml': 'bundles:\n  - name: ops\n',
      'bundles/ops/template.json': JSON.stringify({ name: 'ops', version: '1.0.0', description: 'ops' }),
      'bundles/ops/agents/helper.prompt': agent('fixture/ops'),
    },
  });
});
afterAll(async () => {
  await t?.close();
});

const json = <T>(r: { body: string }) => JSON.parse(r.body) as T;

describe('agents API', () => {
  it('lists agents of every environment and bundle, page by page', async () => {
    const all = json<Page<AgentJson>>(await t.request('GET', '/api/v1/agents'));
    expect(all.items.map((a) => `${a.environment}/${a.bundle ?? '-'}/${a.name}:${a.status}:${a.model ?? '-'}`)).toEqual([
      'default/-/broken:invalid:-',
      'default/-/triage:active:fixture/default',
      'staging/-/triage:active:fixture/staging',
      'staging/ops/helper:active:fixture/ops',
    ]);
    expect(all.items[0]?.error).toMatch(/^environments\/default\/agents\/broken\.prompt:2:\d+: STN_E_YAML_SYNTAX: /);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Page<AgentJson> = json(await t.request('GET', `/api/v1/agents?limit=1${cursor ? `&cursor=${cursor}` : ''}`));
      seen.push(...page.items.map((a) => `${a.environment}/${a.name}`));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['default/broken', 'default/triage', 'staging/triage', 'staging/helper']);
    expect(json<Page<AgentJson>>(await t.request('GET', '/api/v1/agents?env=staging&status=active')).items).toHaveLength(2);
  });

  it('shows one agent with its spec and file; asks for ?env= when the name is in several environments', async () => {
    const ambiguous = await t.request('GET', '/api/v1/agents/triage');
    expect(ambiguous.statusCode).toBe(400);
    expect(json<{ error: { code: string; message: string } }>(ambiguous).error.message).toMatch(/exists in default, staging: pass \?env=/);
    const r = await t.request('GET', '/api/v1/agents/triage?env=staging');
    expect(r.statusCode).toBe(200);
    const detail = json<{ activeVersion: number; version: { id: number; spec: { model: string; inputSchema: unknown }; raw: string } }>(r);
    expect(detail.activeVersion).toBe(1);
    expect(detail.version.spec.model).toBe('fixture/staging');
    expect(detail.version.spec.inputSchema).toMatchObject({ type: 'object', required: ['service'] });
    expect(detail.version.raw).toBe(agent('fixture/staging'));
    const bundled = json<{ bundle: string | null }>(await t.request('GET', '/api/v1/agents/helper'));
    expect(bundled.bundle).toBe('ops');
    expect((await t.request('GET', '/api/v1/agents/nope')).statusCode).toBe(404);
    expect((await t.request('GET', '/api/v1/agents/triage?env=default&version=9')).statusCode).toBe(404);
  });

  it('lists the versions of an agent', async () => {
    const page = json<Page<{ id: number; version: number; active: boolean; dirty: boolean | null }>>(
      await t.request('GET', '/api/v1/agents/triage/versions?env=default'),
    );
    expect(page.items).toEqual([expect.objectContaining({ version: 1, active: true, dirty: false })]);
  });
});
