import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBundle } from '../../src/bundles/create.js';
import { sha256, snapshotTree, writeBundleFolder } from '../helpers/bundle-fixtures.js';
import { ensureBuilt, type StnResult } from '../helpers/cli.js';
import { stnSpawn } from '../helpers/procs.js';
import { createGitRepo, GIT_ENV, type GitRepo } from '../helpers/git-repo.js';
import { expectHealthy } from '../helpers/security.js';
import { startServe, type ServeProc } from '../helpers/serve-proc.js';

/**
 * Issue #9 item 12: `stn bundle install` never writes through a symbolic link in the checkout (bundles/, a bundle
 * folder, environments/, an environment folder), and a URL install follows no redirect to another host or scheme.
 * A daemon serves the checkout meanwhile and stays healthy.
 */

let repo: GitRepo;
let work: string;
let outside: string;
let archive: string;
let archiveSha: string;
let daemon: ServeProc;

beforeAll(async () => {
  ensureBuilt();
  repo = createGitRepo('stn-bundle-links-');
  repo.write('.gitignore', '.station/\n');
  repo.write('environments/a/environment.yaml', 'vars: {threshold: 5}\nbundles: []\n');
  repo.commit('init');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-bundle-links-work-'));
  outside = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-bundle-links-outside-'));
  const folder = writeBundleFolder(path.join(work, 'kit'));
  archive = createBundle(folder, { output: `${path.join(work, 'out')}/` }).file;
  archiveSha = sha256(fs.readFileSync(archive));
  daemon = await startServe(repo.dir);
});

afterAll(async () => {
  await daemon?.stop();
  repo?.cleanup();
  for (const d of [work, outside]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

function stnAsync(...args: string[]): Promise<StnResult> {
  return stnSpawn(['--repo', repo.dir, ...args], { cwd: repo.dir, env: GIT_ENV }).done;
}

/** Installs, expecting the refusal `code`, with nothing written in the checkout or outside it. */
async function refusedWithoutWrites(code: string, ...args: string[]): Promise<StnResult> {
  const before = { repo: snapshotTree(repo.dir), outside: snapshotTree(outside) };
  const r = await stnAsync('bundle', 'install', ...args);
  expect(r.status, r.stderr).toBe(2);
  expect(r.stderr).toContain(code);
  expect(snapshotTree(repo.dir)).toEqual(before.repo);
  expect(snapshotTree(outside)).toEqual(before.outside);
  return r;
}

describe('bundle install and symbolic links in the checkout', () => {
  it.each([
    ['bundles/', 'bundles', ''],
    ['bundles/kit', 'bundles/kit', 'kit-target'],
    ['environments/a', 'environments/a', 'env-target'],
  ])('refuses to write through a linked %s', async (_what, rel, target) => {
    const dest = path.join(outside, target);
    fs.mkdirSync(dest, { recursive: true });
    const link = path.join(repo.dir, ...rel.split('/'));
    let moved: string | undefined;
    if (rel === 'environments/a') {
      // The environment lives outside; the checkout only links to it.
      fs.cpSync(link, dest, { recursive: true });
      moved = path.join(work, 'env-a-backup');
      fs.renameSync(link, moved);
    }
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(dest, link);
    try {
      const r = await refusedWithoutWrites('STN_E_CHECKOUT_LINK', archive, '--env', 'a', '--var', 'threshold=3');
      expect(r.stderr).toContain(`${rel}/ in the checkout is a symbolic link`);
    } finally {
      fs.rmSync(link);
      if (moved) fs.renameSync(moved, link);
    }
    await expectHealthy(daemon.url);
  });
});

describe('bundle install from a URL', () => {
  let origin: http.Server;
  let other: http.Server;
  let otherHits = 0;
  const urlOf = (s: http.Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;

  beforeAll(async () => {
    const body = fs.readFileSync(archive);
    other = http.createServer((_req, res) => {
      otherHits++;
      res.end(body);
    });
    origin = http.createServer((req, res) => {
      if (req.url === '/other-host') res.writeHead(302, { location: `${urlOf(other)}/kit.tar.gz` }).end();
      else if (req.url === '/other-scheme') res.writeHead(301, { location: `https://127.0.0.1:${(origin.address() as AddressInfo).port}/kit.tar.gz` }).end();
      else if (req.url === '/same') res.writeHead(302, { location: '/kit.tar.gz' }).end();
      else res.end(body);
    });
    for (const s of [origin, other]) await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of [origin, other]) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  });

  it('refuses a redirect to another host (port) or scheme, and follows one within the origin', async () => {
    for (const p of ['/other-host', '/other-scheme']) {
      const r = await refusedWithoutWrites('STN_E_BUNDLE_REDIRECT', `${urlOf(origin)}${p}`, '--env', 'a', '--var', 'threshold=3', '--sha256', archiveSha, '--allow-loopback-http');
      expect(r.stderr).toMatch(/another (host|scheme)/);
    }
    expect(otherHits).toBe(0);
    const ok = await stnAsync('bundle', 'install', `${urlOf(origin)}/same`, '--env', 'a', '--var', 'threshold=3', '--sha256', archiveSha, '--allow-loopback-http');
    expect(ok.status, ok.stderr).toBe(0);
    expect(fs.existsSync(path.join(repo.dir, 'bundles', 'kit', 'template.json'))).toBe(true);
    await expectHealthy(daemon.url);
  });
});

describe('bundle remove and symbolic links in the checkout', () => {
  it('refuses to delete a bundle folder through a linked bundles/', async () => {
    // The URL install above put bundles/kit in place and listed it in environment a.
    const real = path.join(outside, 'real-bundles');
    fs.renameSync(path.join(repo.dir, 'bundles'), real);
    fs.symlinkSync(real, path.join(repo.dir, 'bundles'));
    try {
      const before = { repo: snapshotTree(repo.dir), outside: snapshotTree(outside) };
      const r = await stnAsync('bundle', 'remove', 'kit', '--env', 'a');
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain('STN_E_CHECKOUT_LINK');
      expect(snapshotTree(repo.dir)).toEqual(before.repo);
      expect(snapshotTree(outside)).toEqual(before.outside);
      expect(fs.existsSync(path.join(real, 'kit', 'template.json'))).toBe(true);
    } finally {
      fs.rmSync(path.join(repo.dir, 'bundles'));
      fs.renameSync(real, path.join(repo.dir, 'bundles'));
    }
    await expectHealthy(daemon.url);
  });
});
