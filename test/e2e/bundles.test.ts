import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { gzip, rawTar, sha256, snapshotTree } from '../helpers/bundle-fixtures.js';
import { ensureBuilt, PROJECT_ROOT, stn, type StnResult } from '../helpers/cli.js';
import { stnSpawn } from '../helpers/procs.js';
import { createGitRepo, createTempDir, GIT_ENV, type GitRepo } from '../helpers/git-repo.js';
import { workflowYaml } from '../helpers/workflow.js';

/**
 * The built `stn` on temp Git repositories: the example bundle bundles/sre-playbooks packed, installed, synced and its
 * three playbooks run offline; refusals exit 2 with the code on stderr and leave the checkout untouched.
 */

let repo: GitRepo;
let work: string;
let db: string;
let archive: string;
let archiveSha: string;

const EXAMPLE = path.join(PROJECT_ROOT, 'bundles', 'sre-playbooks');

let shared: string;

beforeAll(() => {
  ensureBuilt();
  // One archive of the example for every test (each spawn of the CLI costs a second on a busy machine).
  shared = createTempDir('stn-e2e-bundle-archive-');
  const created = stn(['--json', 'bundle', 'create', EXAMPLE, '-o', `${shared}/`], shared);
  expect(created.status, created.stderr).toBe(0);
  const json = JSON.parse(created.stdout) as { file: string; sha256: string };
  archive = json.file;
  archiveSha = json.sha256;
});

afterAll(() => {
  fs.rmSync(shared, { recursive: true, force: true });
});

beforeEach(() => {
  repo = createGitRepo('stn-e2e-bundle-');
  work = createTempDir('stn-e2e-bundle-work-');
  db = path.join(repo.dir, '.station', 'station.db');
  repo.write('.gitignore', '.station/\n');
  repo.write('environments/prod/environment.yaml', '# Production.\nvars:\n  team: sre-prod\n');
  repo.write('environments/prod/workflows/own.workflow.yaml', workflowYaml('own'));
  repo.commit('init');
});

afterEach(() => {
  repo.cleanup();
  fs.rmSync(work, { recursive: true, force: true });
});

const run = (...args: string[]): StnResult => stn(['--repo', repo.dir, '--db', db, ...args], repo.dir);

/** Like `run`, without blocking this process, so an HTTP server of the test can answer the CLI. */
function runAsync(...args: string[]): Promise<StnResult> {
  return stnSpawn(['--repo', repo.dir, '--db', db, ...args], { cwd: repo.dir, env: GIT_ENV, timeoutMs: 30_000 }).done;
}

interface RunJson {
  status: string;
  output: Record<string, unknown>;
}

function runJson(workflow: string): RunJson {
  const r = run('--json', 'run', workflow, '--env', 'prod');
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as RunJson;
}

/** A loopback HTTP server answering every request with `answer`. */
async function server(answer: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const s = http.createServer(answer);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => s.close(() => resolve())),
  };
}

describe('stn bundle (built CLI)', () => {
  it('create is reproducible: the same folder gives byte-identical archives', () => {
    const again = stn(['--json', 'bundle', 'create', EXAMPLE, '-o', path.join(work, 'again.tar.gz')], work);
    expect(again.status, again.stderr).toBe(0);
    expect(fs.readFileSync(path.join(work, 'again.tar.gz')).equals(fs.readFileSync(archive))).toBe(true);
    expect(path.basename(archive)).toBe('sre-playbooks-1.0.0.tar.gz');
    expect(archiveSha).toBe(sha256(fs.readFileSync(archive)));
    // A copy of the folder elsewhere (other mtimes, other path) gives the same bytes too.
    const copy = path.join(work, 'copy');
    fs.cpSync(EXAMPLE, copy, { recursive: true });
    fs.utimesSync(path.join(copy, 'template.json'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(stn(['bundle', 'create', copy, '-o', path.join(work, 'copy.tar.gz')], work).status).toBe(0);
    expect(fs.readFileSync(path.join(work, 'copy.tar.gz')).equals(fs.readFileSync(archive))).toBe(true);
  });

  it('install → list → sync → run: the three example playbooks run offline with the environment values', async () => {
    const log = path.join(work, 'app.log');
    fs.writeFileSync(log, 'ok\nkernel: segfault at 0\nsegfault again\nSEGFAULT\nall good\n');
    const health = await server((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}'));
    try {
      const installed = run(
        'bundle', 'install', archive, '--env', 'prod',
        '--var', 'alertChannel=#prod-alerts', '--var', 'diskThreshold=0', '--var', `logPath=${log}`, '--var', 'logErrorBudget=2', '--var', `healthUrl=${health.url}/healthz`,
      );
      expect(installed.status, installed.stderr).toBe(0);
      expect(installed.stdout).toContain('installed sre-playbooks 1.0.0 in environment prod');
      expect(installed.stdout).toContain('wrote  bundles/sre-playbooks/ (workflows: sre-disk-check, sre-log-scan, sre-service-health)');
      expect(installed.stdout).toContain('updated  environments/prod/environment.yaml');
      expect(installed.stdout).toContain('next: review and commit (git add bundles/sre-playbooks environments/prod/environment.yaml)');
      expect(repo.read('environments/prod/environment.yaml')).toMatch(/^# Production\.\nvars:\n {2}team: sre-prod\nbundles:\n {2}- name: sre-playbooks\n {4}version: "1\.0\.0"\n/);

      const list = run('--json', 'bundle', 'list');
      expect(list.status).toBe(0);
      expect(JSON.parse(list.stdout)).toEqual([
        expect.objectContaining({ name: 'sre-playbooks', version: '1.0.0', present: true, workflows: ['sre-disk-check', 'sre-log-scan', 'sre-service-health'], modified: [], problems: [] }),
      ]);
      expect(run('bundle', 'list', '--env', 'prod').stdout).toMatch(/^NAME +VERSION +ENVIRONMENTS +WORKFLOWS\nsre-playbooks +1\.0\.0 +prod +sre-disk-check, sre-log-scan, sre-service-health\n$/);

      repo.commit('install sre-playbooks');
      const synced = run('sync');
      expect(synced.status, synced.stdout).toBe(0);
      expect(synced.stdout).toContain('added       own (v1), sre-disk-check (v1), sre-log-scan (v1), sre-service-health (v1)');

      // Disk: every filesystem is at or above 0 %, so the alert goes to the environment's channel.
      const disk = runJson('sre-disk-check');
      expect(disk).toMatchObject({ status: 'COMPLETED', output: { channel: '#prod-alerts', severity: 'warning' } });
      expect(String(disk.output.text)).toMatch(/^Disk usage at or above 0%: \/ \d+%$/);

      // Log scan: 3 case-insensitive "segfault" lines over a budget of 2.
      const logScan = runJson('sre-log-scan');
      expect(logScan).toMatchObject({ status: 'COMPLETED', output: { severity: 'warning', channel: '#prod-alerts' } });
      expect(logScan.output.counts).toEqual([
        { pattern: 'out of memory', matches: 0, readable: true },
        { pattern: 'segfault', matches: 3, readable: true },
        { pattern: 'I/O error', matches: 0, readable: true },
      ]);

      // Health: the CLI probes the test's server (run without blocking this process so the server can answer).
      const r = await runAsync('--json', 'run', 'sre-service-health', '--env', 'prod');
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ status: 'COMPLETED', output: { state: 'healthy', url: `${health.url}/healthz`, status: 200 } });
    } finally {
      await health.close();
    }
  });

  it('refuses a malicious archive with exit 2 and the code on stderr, leaving the checkout untouched', () => {
    const evil = path.join(work, 'evil.tar.gz');
    fs.writeFileSync(
      evil,
      gzip(rawTar([{ name: 'sre-playbooks/template.json', data: '{}' }, { name: 'sre-playbooks/../../../../tmp/pwned', data: 'x' }])),
    );
    const before = snapshotTree(repo.dir);
    const r = run('bundle', 'install', evil, '--env', 'prod');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('stn: STN_E_BUNDLE_PATH: archive entry "sre-playbooks/../../../../tmp/pwned" has a ".." segment (path traversal)\n');
    expect(snapshotTree(repo.dir)).toEqual(before);
    const json = run('--json', 'bundle', 'install', evil, '--env', 'prod');
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'STN_E_BUNDLE_PATH', details: { entry: 'sre-playbooks/../../../../tmp/pwned' } } });
  });

  it('upgrade needs --upgrade; remove then sync disables the workflows', () => {
    expect(run('bundle', 'install', archive, '--env', 'prod').status).toBe(0);
    repo.commit('install');
    expect(run('sync').status).toBe(0);

    const v2src = path.join(work, 'v2');
    fs.cpSync(EXAMPLE, v2src, { recursive: true });
    const manifest = JSON.parse(fs.readFileSync(path.join(v2src, 'template.json'), 'utf8')) as { version: string };
    manifest.version = '1.1.0';
    fs.writeFileSync(path.join(v2src, 'template.json'), JSON.stringify(manifest, null, 2));
    fs.rmSync(path.join(v2src, 'workflows', 'sre-log-scan.workflow.yaml'));
    expect(stn(['bundle', 'create', v2src, '-o', `${work}/`], work).status).toBe(0);
    const v2 = path.join(work, 'sre-playbooks-1.1.0.tar.gz');

    const before = snapshotTree(repo.dir);
    const refused = run('bundle', 'install', v2, '--env', 'prod');
    expect(refused.status).toBe(2);
    expect(refused.stderr).toBe(
      [
        'stn: STN_E_BUNDLE_UPGRADE: sre-playbooks 1.0.0 -> 1.1.0 (upgrade); pass --upgrade to replace it:',
        '  workflows added: -',
        '  workflows removed (disabled at the next sync): sre-log-scan',
        '  workflows changed: -',
        '',
      ].join('\n'),
    );
    expect(snapshotTree(repo.dir)).toEqual(before);

    const upgraded = run('bundle', 'install', v2, '--env', 'prod', '--upgrade');
    expect(upgraded.status, upgraded.stderr).toBe(0);
    expect(upgraded.stdout).toContain('upgraded sre-playbooks 1.1.0 in environment prod');
    repo.commit('upgrade');
    expect(run('sync').stdout).toContain('disabled    sre-log-scan');

    const removed = run('bundle', 'remove', 'sre-playbooks', '--env', 'prod');
    expect(removed.status, removed.stderr).toBe(0);
    expect(removed.stdout).toContain('deleted bundles/sre-playbooks/ (no environment lists it any more)');
    expect(removed.stdout).toContain('the next sync of prod disables: sre-disk-check, sre-service-health');
    expect(repo.read('environments/prod/environment.yaml')).toBe('# Production.\nvars:\n  team: sre-prod\n');
    repo.commit('remove');
    expect(run('sync').status).toBe(0);
    const rows = JSON.parse(run('--json', 'workflows', 'list', '--env', 'prod').stdout) as Array<{ id: string; status: string }>;
    expect(Object.fromEntries(rows.map((w) => [w.id, w.status]))).toEqual({
      own: 'active',
      'sre-disk-check': 'disabled',
      'sre-log-scan': 'disabled',
      'sre-service-health': 'disabled',
    });
  });

  it('installs from a URL pinned by --sha256 (loopback http behind the test-only flag)', async () => {
    const body = fs.readFileSync(archive);
    const srv = await server((_req, res) => res.end(body));
    try {
      const url = `${srv.url}/sre-playbooks-1.0.0.tar.gz`;
      let r = await runAsync('bundle', 'install', url, '--env', 'prod', '--allow-loopback-http');
      expect(r.status).toBe(2);
      expect(r.stderr).toContain('STN_E_USAGE: installing from a URL needs --sha256');
      r = await runAsync('bundle', 'install', url, '--env', 'prod', '--sha256', archiveSha);
      expect(r.stderr).toContain('STN_E_BUNDLE_DOWNLOAD');
      r = await runAsync('bundle', 'install', url, '--env', 'prod', '--sha256', archiveSha, '--allow-loopback-http');
      expect(r.status, r.stderr).toBe(0);
      expect(fs.existsSync(path.join(repo.dir, 'bundles/sre-playbooks/workflows/sre-disk-check.workflow.yaml'))).toBe(true);
    } finally {
      await srv.close();
    }
  });
});
