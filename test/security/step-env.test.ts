import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { variantsOf } from '../../src/engine/masking.js';
import { ensureBuilt } from '../helpers/cli.js';
import { FakeSlack } from '../helpers/fake-slack.js';
import { createGitRepo, type GitRepo } from '../helpers/git-repo.js';
import { expectHealthy } from '../helpers/security.js';
import { startServe, type ServeProc } from '../helpers/serve-proc.js';

/**
 * Issue #9 items 3 and 10 against a real `stn serve`: the daemon holds API tokens, Slack secrets, webhook and Git
 * secrets, provider keys and STN_SECRET_*; steps that run `env`, read the daemon's own /proc environ, or print a
 * secret they were given in encoded forms must not get any of it into `GET /workflow-runs/{id}` (as a viewer), the
 * SQLite files or the logs.
 */

const hex = (n = 16) => randomBytes(n).toString('hex');
const CREDENTIALS = {
  // Variable names that do not look like credentials: only the configuration says they are.
  CI_OPS: `op-${hex()}`,
  DASH_VIEW: `vw-${hex()}`,
  SLK_BOT: `xoxb-${hex()}`,
  SLK_SIGN: hex(),
  PUSH_HMAC: `push-${hex()}`,
  ALERTS_HMAC: `alerts-${hex()}`,
  ALERTS_OLD: `alerts-old-${hex()}`,
  // Names that do.
  OPENAI_API_KEY: `sk-${hex()}`,
  GITHUB_TOKEN: `ghp_${hex()}`,
  // A declared secret, handed to one step through input.env (so it is in that step's environment on purpose).
  STN_SECRET_DB_PASSWORD: `Pa$$/w0rd+"q"&${hex(8)}é`,
};
const SECRET_VALUES = Object.values(CREDENTIALS);

let repo: GitRepo;
let daemon: ServeProc;
let fake: FakeSlack;
let scratch: string;

const LEAK = `
id: leak
version: "1"
name: Leak
triggers:
  - {type: webhook, name: alerts, secretEnv: ALERTS_HMAC, previousSecretEnv: ALERTS_OLD}
states:
  - name: dump
    type: operation
    action: shell.exec
    input: {command: [env]}
    next: daemon-environ
  - name: daemon-environ
    type: operation
    action: shell.exec
    input: {shell: true, script: "tr '\\\\000' '\\\\n' < /proc/$PPID/environ"}
    next: encoded
  - name: encoded
    type: operation
    action: shell.exec
    input:
      command:
        - ${process.execPath}
        - -e
        - |
          const pw = process.env.PW;
          const b = (s) => Buffer.from(s).toString('base64');
          console.log(pw);
          console.log(pw.toUpperCase(), pw.toLowerCase());
          console.log(JSON.stringify({ nested: JSON.stringify({ pw }) }));
          console.log(encodeURIComponent(pw), new URLSearchParams({ pw }).toString());
          console.log(b(pw), b('x' + pw), b('xy' + pw), Buffer.from(pw).toString('base64url'));
          console.log(Buffer.from(pw).toString('hex'), Buffer.from(pw).toString('hex').toUpperCase());
      env: {PW: "{{ secrets.DB_PASSWORD }}"}
    next: derive
  - name: derive
    type: operation
    action: shell.exec
    input:
      shell: true
      script: |
        t=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \\n')
        echo "::add-mask::$t"
        echo "derived token $t"
        printf '%s' "$t" > "$OUT/derived"
      env: {OUT: "${'{{ input.out }}'}"}
    next: later
  - name: later
    type: operation
    action: shell.exec
    input: {shell: true, script: 'echo "later step sees $(cat "$OUT/derived")"', env: {OUT: "${'{{ input.out }}'}"}}
    end: true
`;

beforeAll(async () => {
  ensureBuilt();
  fake = new FakeSlack();
  await fake.start();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-step-env-out-'));
  repo = createGitRepo('stn-step-env-');
  repo.write('.gitignore', '.station/\n');
  repo.write(
    'station.yaml',
    [
      'server:',
      '  tokens:',
      '    - {name: ci, role: operator, env: CI_OPS}',
      '    - {name: dash, role: viewer, env: DASH_VIEW}',
      'git:',
      '  webhookSecretEnv: PUSH_HMAC',
      'slack:',
      '  mode: http',
      '  botTokenEnv: SLK_BOT',
      '  signingSecretEnv: SLK_SIGN',
      `  apiUrl: ${fake.url}`,
      '',
    ].join('\n'),
  );
  repo.write('environments/default/workflows/leak.workflow.yaml', LEAK);
  repo.commit('fixtures');
  daemon = await startServe(repo.dir, CREDENTIALS, ['--no-watch']);
});

afterAll(async () => {
  await daemon?.stop();
  await fake?.stop();
  repo?.cleanup();
  if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
});

const api = (p: string, token: string, init: RequestInit = {}) =>
  fetch(`${daemon.url}/api/v1${p}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });

/** Every form of every value that must not be found. */
function forbiddenForms(values: string[]): string[] {
  return values.flatMap((v) => variantsOf(v).concat([v.toUpperCase(), v.toLowerCase()]));
}

function storedBytes(): Buffer {
  const dir = path.join(repo.dir, '.station');
  return Buffer.concat(fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f))));
}

describe('steps and the daemon environment', () => {
  it("a step running env, reading the daemon's /proc environ or printing encodings shows no credential to a viewer, in SQLite or in the logs", async () => {
    const started = await api('/workflow-runs?wait=60', CREDENTIALS.CI_OPS, {
      method: 'POST',
      body: JSON.stringify({ workflowId: 'leak', input: { out: scratch } }),
    });
    expect(started.status).toBeLessThan(300);
    const { id } = (await started.json()) as { id: string };
    const shown = await api(`/workflow-runs/${id}`, CREDENTIALS.DASH_VIEW);
    expect(shown.status).toBe(200);
    const text = await shown.text();
    const run = JSON.parse(text) as { status: string; steps: Array<{ stateName?: string; state?: string; output: { stdout: string } | null }> };
    expect(run.status).toBe('COMPLETED');
    const stdoutOf = (name: string) => run.steps.find((s) => (s.stateName ?? s.state) === name)?.output?.stdout ?? '';

    // The step environment is the allowlist plus the run variables: no credential, masked or not.
    const env = stdoutOf('dump');
    expect(env).toMatch(/^PATH=/m);
    expect(env).toMatch(/^STN_RUN_ID=/m);
    for (const name of Object.keys(CREDENTIALS)) expect(env).not.toMatch(new RegExp(`^${name}=`, 'm'));
    // The daemon's own initial environment is readable by a same-user child: every credential in it is masked.
    const environ = stdoutOf('daemon-environ');
    expect(environ).toContain('CI_OPS=***');
    expect(environ).toContain('SLK_SIGN=***');
    expect(environ).toContain('ALERTS_HMAC=***');
    expect(environ).toContain('ALERTS_OLD=***');
    expect(environ).toContain('OPENAI_API_KEY=***');
    // Encoded forms of the declared secret are masked line by line.
    const encoded = stdoutOf('encoded').trimEnd().split('\n');
    expect(encoded).toHaveLength(6);
    expect(encoded[0]).toBe('***');
    expect(encoded[1]).toBe('*** ***');
    for (const line of encoded) expect(line).toContain('***');
    // ::add-mask:: masks a value the step derived, in its own output and in the later step's.
    const derived = fs.readFileSync(path.join(scratch, 'derived'), 'utf8');
    expect(derived).toMatch(/^[0-9a-f]{32}$/);
    expect(stdoutOf('derive')).toBe('::add-mask::***\nderived token ***\n');
    expect(stdoutOf('later')).toBe('later step sees ***\n');

    const forbidden = forbiddenForms([...SECRET_VALUES, derived]);
    for (const form of forbidden) expect(text.includes(form), `API answer holds ${form}`).toBe(false);
    const bytes = storedBytes();
    for (const form of forbidden) expect(bytes.includes(Buffer.from(form)), `SQLite holds ${form}`).toBe(false);
    const logs = JSON.stringify(daemon.logs());
    for (const form of forbidden) expect(logs.includes(form), `logs hold ${form}`).toBe(false);

    await expectHealthy(daemon.url);
  });
});
