import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatMcpProblem, loadMcpFile, parseMcpFile, resolveValues, serverSecretNames } from '../../src/agents/mcp/config.js';
import { McpFailure } from '../../src/agents/mcp/errors.js';
import { allowlistProblems } from '../../src/agents/mcp/hub.js';
import { assignToolNames, TOOL_NAME_PATTERN } from '../../src/agents/mcp/tool-names.js';

const FILE = 'environments/prod/mcp.yaml';

describe('mcp.yaml', () => {
  it('reads stdio and HTTP servers with their defaults', () => {
    const { config, problems } = parseMcpFile(
      `servers:
  github:
    command: npx
    args: [-y, "@modelcontextprotocol/server-github"]
    env:
      GITHUB_TOKEN: "{{ secrets.GITHUB_TOKEN }}"
      LOG_LEVEL: debug
    cwd: tools
    startTimeoutSeconds: 5
  search:
    url: https://mcp.example.com/mcp
    headers:
      Authorization: "Bearer {{ secrets.SEARCH_KEY }}"
`,
      FILE,
    );
    expect(problems).toEqual([]);
    expect(config?.file).toBe(FILE);
    expect(config?.servers.get('github')).toEqual({
      transport: 'stdio',
      name: 'github',
      command: 'npx',
      args: ['-y', '@modelcontextprotocol/server-github'],
      env: { GITHUB_TOKEN: '{{ secrets.GITHUB_TOKEN }}', LOG_LEVEL: 'debug' },
      cwd: 'tools',
      startTimeoutMs: 5000,
      callTimeoutMs: 300_000,
    });
    const search = config?.servers.get('search');
    expect(search).toMatchObject({ transport: 'http', url: 'https://mcp.example.com/mcp', startTimeoutMs: 30_000 });
    expect(search && serverSecretNames(search)).toEqual(['SEARCH_KEY']);
  });

  it('reports an unknown field at its line and column, naming the field and the server', () => {
    const { config, problems } = parseMcpFile(`servers:\n  github:\n    command: npx\n    argz: [x]\n`, FILE);
    expect(config).toBeUndefined();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: FILE, line: 4, col: 5, code: 'STN_E_MCP_CONFIG', field: '/servers/github/argz' });
    expect(formatMcpProblem(problems[0] as never)).toMatch(/^environments\/prod\/mcp\.yaml:4:5: unknown field "argz".*did you mean "args"\?/);
  });

  it('refuses a duplicate key, with its position', () => {
    const { problems } = parseMcpFile(`servers:\n  a:\n    command: x\n  a:\n    command: y\n`, FILE);
    expect(problems[0]).toMatchObject({ line: 4, col: 3, code: 'STN_E_YAML_DUPLICATE_KEY' });
  });

  it('reports malformed YAML at its position', () => {
    const { problems } = parseMcpFile(`servers:\n  a:\n    command: [x\n`, FILE);
    expect(problems[0]?.code).toBe('STN_E_YAML_SYNTAX');
    expect(problems[0]?.line).toBeGreaterThanOrEqual(3);
  });

  it('needs a command or a url, and wrong types are named', () => {
    const { problems } = parseMcpFile(`servers:\n  a:\n    args: [x]\n  b:\n    url: https://x.example/mcp\n    startTimeoutSeconds: soon\n`, FILE);
    const texts = problems.map(formatMcpProblem);
    expect(texts).toContainEqual(expect.stringMatching(/mcp\.yaml:2:3: .*missing the required field "command"/));
    expect(texts).toContainEqual(expect.stringMatching(/mcp\.yaml:6:26: "startTimeoutSeconds".*must be number/));
  });

  it('allows only {{ secrets.NAME }} between braces', () => {
    const { problems } = parseMcpFile(`servers:\n  a:\n    command: x\n    env:\n      TOKEN: "{{ vars.token }}"\n`, FILE);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ line: 5, col: 14, field: '/servers/a/env/TOKEN' });
    expect(problems[0]?.message).toMatch(/only "\{\{ secrets\.NAME \}\}"/);
  });

  it('refuses a server name with a slash at the name', () => {
    const { problems } = parseMcpFile(`servers:\n  ok: {command: x}\n  "a/b":\n    command: x\n`, FILE);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ line: 3, col: 3 });
    expect(problems[0]?.message).toMatch(/server name "a\/b" is not allowed/);
  });

  it('loads environments/<env>/mcp.yaml of a checkout; no file means no servers', () => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-mcp-config-'));
    try {
      expect(loadMcpFile(repo, 'prod')).toEqual({ config: { file: 'environments/prod/mcp.yaml', servers: new Map() }, problems: [] });
      fs.mkdirSync(path.join(repo, 'environments', 'prod'), { recursive: true });
      fs.writeFileSync(path.join(repo, 'environments', 'prod', 'mcp.yaml'), 'servers:\n  fs:\n    command: mcp-fs\n    timeout: 3\n');
      const { problems } = loadMcpFile(repo, 'prod');
      expect(problems.map(formatMcpProblem)).toEqual([expect.stringMatching(/^environments\/prod\/mcp\.yaml:4:5: unknown field "timeout"/)]);
    } finally {
      fs.rmSync(repo, { recursive: true, force: true });
    }
  });

  it('resolves secrets by name, and a missing one fails naming the server and the secret, never a value', () => {
    const secret = (name: string) => (name === 'TOKEN' ? 's3cr3t' : undefined);
    expect(resolveValues('gh', { Authorization: 'Bearer {{ secrets.TOKEN }}', Plain: 'x' }, secret)).toEqual({
      values: { Authorization: 'Bearer s3cr3t', Plain: 'x' },
      secrets: ['s3cr3t'],
    });
    let thrown: unknown;
    try {
      resolveValues('gh', { A: '{{ secrets.TOKEN }}', B: '{{secrets.MISSING}}' }, secret);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(McpFailure);
    expect(thrown).toMatchObject({ code: 'STN_E_MCP_SECRET', server: 'gh', retryable: false });
    expect((thrown as Error).message).toMatch(/"gh".*"MISSING"/);
    expect((thrown as Error).message).not.toContain('s3cr3t');
  });
});

describe('tools allowlist', () => {
  it('names malformed entries and servers mcp.yaml does not declare', () => {
    const config = parseMcpFile('servers:\n  gh: {command: x}\n', FILE).config;
    expect(config && allowlistProblems(config, ['gh/*', 'gh/create_issue', 'slack/post', 'nothing'])).toEqual([
      `tools entry "slack/post" names MCP server "slack", which ${FILE} does not declare`,
      'tools entry "nothing" is not "server/tool" or "server/*"',
    ]);
  });
});

describe('model-facing tool names', () => {
  it('keeps valid names readable and maps back', () => {
    const names = assignToolNames(['github/create_issue', 'search/query']);
    expect(names.toModel('github/create_issue')).toBe('github__create_issue');
    expect(names.fromModel('github__create_issue')).toBe('github/create_issue');
    expect(names.fromModel('search__query')).toBe('search/query');
    expect(names.fromModel('github/create_issue')).toBeUndefined();
    expect(names.fromModel('nope')).toBeUndefined();
  });

  it('maps invalid and long names into the alphabet, reversibly and stably', () => {
    const long = `fs/${'read.'.repeat(30)}file`;
    const set = ['fs/read.file', 'fs/read_file', long, 'x/a b', 'x/a/b', 'x/a_b'];
    const names = assignToolNames(set);
    const handed = set.map((q) => names.toModel(q) as string);
    for (const n of handed) expect(n).toMatch(TOOL_NAME_PATTERN);
    expect(new Set(handed).size).toBe(set.length);
    for (const q of set) expect(names.fromModel(names.toModel(q) as string)).toBe(q);
    // The same set in another order, or in another step, gives the same names.
    const again = assignToolNames([...set].reverse());
    for (const q of set) expect(again.toModel(q)).toBe(names.toModel(q));
    expect(names.toModel('fs/read_file')).toBe('fs__read_file');
    expect(names.toModel('fs/read.file')).toMatch(/^fs__read_file_[0-9a-f]{8}$/);
  });

  it('gives both of two colliding plain names a hash suffix', () => {
    const names = assignToolNames(['a_/b', 'a/_b']);
    const first = names.toModel('a_/b') as string;
    const second = names.toModel('a/_b') as string;
    expect(first).not.toBe(second);
    expect(first).toMatch(/^a___b_[0-9a-f]{8}$/);
    expect(second).toMatch(/^a___b_[0-9a-f]{8}$/);
  });
});
