import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packArchive, unpackArchive } from '../../src/bundles/archive.js';
import { createBundle } from '../../src/bundles/create.js';
import { installBundle, type InstallOptions } from '../../src/bundles/install.js';
import { listBundles } from '../../src/bundles/list.js';
import { removeBundle } from '../../src/bundles/remove.js';
import { StationError } from '../../src/errors.js';
import { gzip, rawTar, sha256, snapshotTree, varsWorkflow, writeBundleFolder, type RawEntry } from '../helpers/bundle-fixtures.js';
import { createGitRepo, createTempDir, type GitRepo } from '../helpers/git-repo.js';
import { workflowYaml } from '../helpers/workflow.js';

let repo: GitRepo;
let work: string;

const ENV_A = `# yaml-language-server: $schema=../../schemas/environment.schema.json
# Environment a: comments must survive an install.

vars:
  team: alpha # the owning team
  threshold: 50

bundles: []
`;

beforeEach(() => {
  repo = createGitRepo('stn-bundle-install-');
  work = createTempDir('stn-bundle-work-');
  repo.write('environments/a/environment.yaml', ENV_A);
  repo.write('environments/a/workflows/own.workflow.yaml', workflowYaml('own'));
  repo.write('environments/b/workflows/.keep', '');
  repo.commit('init');
});

afterEach(() => {
  repo.cleanup();
  fs.rmSync(work, { recursive: true, force: true });
});

/** Creates kit's archive from a folder spec and returns its path. */
function archive(spec: Parameters<typeof writeBundleFolder>[1] = {}, name = 'src'): string {
  const dir = writeBundleFolder(path.join(work, name), spec);
  return createBundle(dir, { output: path.join(work, 'out', name) + '/' }).file;
}

const install = (o: Partial<InstallOptions> & { source: string }) => installBundle({ repo: repo.dir, env: 'a', ...o });

async function refused(o: Partial<InstallOptions> & { source: string }): Promise<StationError> {
  try {
    await install(o);
  } catch (err) {
    if (err instanceof StationError) return err;
    throw err;
  }
  throw new Error('install was accepted');
}

/** Runs an install that must be refused with `code`, and checks that not one byte of the checkout changed. */
async function refusedUntouched(o: Partial<InstallOptions> & { source: string }, code: string): Promise<StationError> {
  const before = snapshotTree(repo.dir);
  const status = repo.git('status', '--porcelain', '--untracked-files=all', '--ignored');
  const e = await refused(o);
  expect(e.code, e.message).toBe(code);
  expect(snapshotTree(repo.dir)).toEqual(before);
  expect(repo.git('status', '--porcelain', '--untracked-files=all', '--ignored')).toBe(status);
  return e;
}

describe('install', () => {
  it('moves the bundle into bundles/<name>/ and adds the entry, keeping comments and the rest of environment.yaml', async () => {
    const file = archive();
    const r = await install({ source: file, vars: ['threshold=7', 'greeting=hi there'] });
    expect(r).toMatchObject({ name: 'kit', version: '1.0.0', action: 'installed', folder: 'bundles/kit', folderWritten: true, workflows: ['kit-show'] });
    expect(r.files).toEqual(['environments/a/environment.yaml']);
    expect(repo.read('environments/a/environment.yaml')).toBe(`# yaml-language-server: $schema=../../schemas/environment.schema.json
# Environment a: comments must survive an install.

vars:
  team: alpha # the owning team
  threshold: 50

bundles:
  - name: kit
    version: "1.0.0"
    vars:
      threshold: 7
      greeting: hi there
`);
    expect(fs.readdirSync(path.join(repo.dir, 'bundles'))).toEqual(['kit']);
    expect(repo.read('bundles/kit/workflows/kit-show.workflow.yaml')).toBe(varsWorkflow('kit-show'));
    const manifest = JSON.parse(repo.read('bundles/kit/template.json')) as { files: Array<{ path: string }> };
    expect(manifest.files.map((f) => f.path)).toEqual(['workflows/kit-show.workflow.yaml']);
    expect(listBundles(repo.dir)).toEqual([
      expect.objectContaining({ name: 'kit', version: '1.0.0', environments: [{ name: 'a', version: '1.0.0', vars: { threshold: 7, greeting: 'hi there' } }], workflows: ['kit-show'], modified: [], problems: [] }),
    ]);
  });

  it('creates environment.yaml when the environment has none, and installs from a folder too', async () => {
    const dir = writeBundleFolder(path.join(work, 'src'));
    const r = await installBundle({ repo: repo.dir, env: 'b', source: dir, vars: ['threshold=1'] });
    expect(r.action).toBe('installed');
    expect(repo.read('environments/b/environment.yaml')).toContain('bundles:\n  - name: kit\n    version: "1.0.0"\n    vars:\n      threshold: 1\n');
    // The installed copy records the file list, so it can be verified like an archive's.
    expect(JSON.parse(repo.read('bundles/kit/template.json'))).toHaveProperty('files');
  });

  it('installing the folder already at bundles/<name>/ only adds the environment entry', async () => {
    writeBundleFolder(path.join(repo.dir, 'bundles', 'kit'));
    repo.commit('bundle written by hand');
    const r = await installBundle({ repo: repo.dir, env: 'b', source: path.join(repo.dir, 'bundles', 'kit'), vars: ['threshold=2'] });
    expect(r).toMatchObject({ action: 'installed', folderWritten: false, files: ['environments/b/environment.yaml'] });
    expect(repo.git('status', '--porcelain', '--untracked-files=all')).toBe('?? environments/b/environment.yaml');
  });

  it('a second install of the same archive changes nothing; with --var it updates only the entry', async () => {
    const file = archive();
    await install({ source: file, vars: ['threshold=7'] });
    const after = snapshotTree(repo.dir);
    expect((await install({ source: file })).action).toBe('unchanged');
    expect(snapshotTree(repo.dir)).toEqual(after);
    const r = await install({ source: file, vars: ['threshold=8'] });
    expect(r).toMatchObject({ action: 'updated', folderWritten: false, files: ['environments/a/environment.yaml'] });
    expect(repo.read('environments/a/environment.yaml')).toContain('    vars:\n      threshold: 8\n');
  });

  it('keeps CRLF line ends and a byte order mark of environment.yaml (a file written on Windows)', async () => {
    const crlf = `\uFEFF${ENV_A.replace(/\n/g, '\r\n')}`;
    repo.write('environments/a/environment.yaml', crlf);
    await install({ source: archive(), vars: ['threshold=7'] });
    const after = fs.readFileSync(path.join(repo.dir, 'environments/a/environment.yaml'), 'utf8');
    expect(after.startsWith(`${crlf.replace('bundles: []\r\n', '')}bundles:\r\n  - name: kit\r\n`)).toBe(true);
    expect(after.replace(/\r\n/g, '')).not.toContain('\n');
    removeBundle({ repo: repo.dir, env: 'a', name: 'kit' });
    expect(fs.readFileSync(path.join(repo.dir, 'environments/a/environment.yaml'), 'utf8')).toBe(crlf.replace('\r\nbundles: []\r\n', ''));
  });

  it("an update keeps the entry's comments and quoting; removing the last entry keeps the file's closing comments", async () => {
    const file = archive();
    await install({ source: file, vars: ['threshold=1'] });
    const edited = `# top comment
vars:
  team: alpha # inline

bundles:
  # the kit, pinned
  - name: kit
    version: '1.0.0' # pinned by SRE
    vars:
      # greet loudly
      greeting: 'HELLO' # caps
# end of file comment
`;
    repo.write('environments/a/environment.yaml', edited);
    await install({ source: file, vars: ['greeting=hey', 'threshold=2'] });
    expect(repo.read('environments/a/environment.yaml')).toBe(
      edited.replace("greeting: 'HELLO' # caps\n", "greeting: 'hey' # caps\n      threshold: 2\n").replace('# end of file', '\n# end of file'),
    );
    // yaml hangs comments after the last entry on the list; they outlive the removed `bundles:` key.
    repo.write('environments/a/environment.yaml', edited.replace('# end of file', '  # more kits to come\n# end of file'));
    removeBundle({ repo: repo.dir, env: 'a', name: 'kit' });
    expect(repo.read('environments/a/environment.yaml')).toBe('# top comment\nvars:\n  team: alpha # inline\n\n# more kits to come\n# end of file comment\n');
  });

  it('gives the installed folder the usual mode, not the 0700 of a private temp folder', async () => {
    await install({ source: archive(), vars: ['threshold=7'] });
    const mode = (p: string) => fs.statSync(path.join(repo.dir, p)).mode & 0o777;
    expect(mode('bundles/kit')).toBe(mode('bundles/kit/workflows'));
    expect(mode('bundles/kit') & 0o055).toBe(0o055 & ~process.umask());
  });

  it('reads variables named like Object.prototype members as any other, and refuses "__proto__"', async () => {
    const variables = { constructor: { type: 'string', default: 'ctor' }, threshold: { type: 'integer', required: true } };
    expect((await install({ source: archive({ variables }) })).action).toBe('installed');
    let e = await refusedUntouched({ source: archive({ variables }), vars: ['toString=1'] }, 'STN_E_BUNDLE_VARIABLES');
    expect(e.message).toContain('declares no variable "toString" (declared: constructor, threshold)');
    e = await refusedUntouched({ source: archive({ variables }), vars: ['__proto__={}'] }, 'STN_E_BUNDLE_VARIABLES');
    expect(e.message).toContain('declares no variable "__proto__"');
    const proto = path.join(work, 'proto');
    writeBundleFolder(proto, { name: 'proto' });
    fs.writeFileSync(path.join(proto, 'template.json'), '{"name":"proto","version":"1.0.0","variables":{"__proto__":{"type":"string","default":"x"}}}');
    e = await refusedUntouched({ source: proto }, 'STN_E_BUNDLE_INVALID');
    expect(e.message).toContain('/variables/__proto__: "__proto__" cannot be a variable name');
  });

  it('takes required values from the environment vars or a default', async () => {
    // threshold is required; environment a sets vars.threshold: 50, so no --var is needed.
    expect((await install({ source: archive() })).action).toBe('installed');
    // Environment b has no such var: refused, naming the variable and the flag to pass.
    const e = await refusedUntouched({ env: 'b', source: archive() }, 'STN_E_BUNDLE_VARIABLES');
    expect(e.message).toContain('b: required variable threshold has no value: pass --var threshold=...');
  });

  describe('refuses, writing nothing,', () => {
    it('variables that are unknown, mistyped, or secrets given as values', async () => {
      const variables = {
        threshold: { type: 'integer', required: true },
        enabled: { type: 'boolean' },
        token: { type: 'string', secret: true, required: true },
      };
      const file = archive({ variables });
      let e = await refusedUntouched({ source: file, vars: ['threshhold=1', 'token=PD'] }, 'STN_E_BUNDLE_VARIABLES');
      expect(e.message).toContain('bundle kit declares no variable "threshhold" (declared: threshold, enabled, token)');
      e = await refusedUntouched({ source: file, vars: ['enabled=yes', 'token=PD'] }, 'STN_E_BUNDLE_VARIABLES');
      expect(e.message).toContain('--var enabled: "yes" is not a boolean');
      e = await refusedUntouched({ source: file, vars: ['token=xoxb-1234-secret-value'] }, 'STN_E_BUNDLE_VARIABLES');
      expect(e.message).toContain('secret variable token must hold the NAME of a secret');
      expect(e.message).not.toContain('xoxb');
      e = await refusedUntouched({ source: file }, 'STN_E_BUNDLE_VARIABLES');
      expect(e.message).toContain('required variable token has no value');
      expect((await install({ source: file, vars: ['token=PAGERDUTY_TOKEN'] })).notes).toContain(
        "secret variable token: workflows read the secret named by its value (STN_SECRET_<NAME> in the daemon's environment)",
      );
    });

    it('workflow ids that collide with the environment or another bundle', async () => {
      let e = await refusedUntouched(
        { source: archive({ workflows: { 'own.workflow.yaml': workflowYaml('own'), 'x.workflow.yaml': workflowYaml('kit-x') } }) },
        'STN_E_BUNDLE_CONFLICT',
      );
      expect(e.message).toContain('a: workflow id "own" (workflows/own.workflow.yaml) is already used by environments/a/workflows/own.workflow.yaml');
      await install({ source: archive({ name: 'kit' }) });
      e = await refusedUntouched({ source: archive({ name: 'other', workflows: { 'k.workflow.yaml': varsWorkflow('kit-show') } }, 'o') }, 'STN_E_BUNDLE_CONFLICT');
      expect(e.message).toContain('is already used by bundle kit (bundles/kit/workflows/kit-show.workflow.yaml)');
    });

    it('an invalid workflow or manifest, naming the file and line', async () => {
      const broken = varsWorkflow('kit-show').replace('type: inject', 'type: injekt');
      const dir = writeBundleFolder(path.join(work, 'bad'), { workflows: { 'kit-show.workflow.yaml': broken } });
      let e = await refusedUntouched({ source: dir }, 'STN_E_BUNDLE_INVALID');
      expect(e.message).toMatch(/workflows\/kit-show\.workflow\.yaml:\d+:\d+: STN_E_SCHEMA_VALUE/);
      fs.writeFileSync(path.join(dir, 'template.json'), JSON.stringify({ name: 'kit', version: '1.0' }));
      e = await refusedUntouched({ source: dir }, 'STN_E_BUNDLE_INVALID');
      expect(e.message).toContain('/version');
    });

    it('a manifest nested deep enough to overflow validation, by create and install alike', async () => {
      const dir = writeBundleFolder(path.join(work, 'deep'));
      const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
      fs.writeFileSync(path.join(dir, 'template.json'), `{"name":"kit","version":"1.0.0","variables":{"x":{"type":"array","default":${deep}}}}`);
      expect(() => createBundle(dir, { output: path.join(work, 'deep.tar.gz') })).toThrow(/template\.json: nested more than 64 levels deep/);
      const e = await refusedUntouched({ source: dir }, 'STN_E_BUNDLE_INVALID');
      expect(e.message).toContain('nested more than 64 levels deep');
    });

    it('a bundle for another Station version', async () => {
      const e = await refusedUntouched({ source: archive({ station: '>=99.0.0' }) }, 'STN_E_BUNDLE_INCOMPATIBLE');
      expect(e.message).toContain('needs Station >=99.0.0; this is Station 0.1.0');
    });

    it('an archive whose folder is not named after the bundle', async () => {
      const { files } = unpackArchive(fs.readFileSync(archive()));
      const file = path.join(work, 'renamed.tar.gz');
      fs.writeFileSync(file, packArchive('other', files));
      const e = await refusedUntouched({ source: file, vars: ['threshold=1'] }, 'STN_E_BUNDLE_INVALID');
      expect(e.message).toContain('files sit under "other/" but template.json names the bundle "kit"');
    });

    it('into an environment whose environment.yaml is invalid', async () => {
      repo.write('environments/b/environment.yaml', 'bundles:\n  name: kit\n');
      const e = await refusedUntouched({ env: 'b', source: archive(), vars: ['threshold=1'] }, 'STN_E_ENVIRONMENT_INVALID');
      expect(e.message).toContain('environments/b/environment.yaml is invalid: /bundles: must be array; fix it first');
    });

    it('an environment.yaml that is an alias bomb', async () => {
      const ten = (alias: string) => `[${Array(10).fill(alias).join(', ')}]`;
      repo.write('environments/b/environment.yaml', `vars:\n  a: &a ${ten('1')}\n  b: &b ${ten('*a')}\n  c: &c ${ten('*b')}\n  d: &d ${ten('*c')}\n`);
      const e = await refusedUntouched({ env: 'b', source: archive(), vars: ['threshold=1'] }, 'STN_E_ENVIRONMENT_INVALID');
      expect(e.message).toContain('environments/b/environment.yaml: ');
    });

    it('an environment.yaml that is a symbolic link (the rename would replace the link)', async () => {
      fs.writeFileSync(path.join(work, 'shared.yaml'), 'vars:\n  threshold: 3\n');
      fs.symlinkSync(path.join(work, 'shared.yaml'), path.join(repo.dir, 'environments/b/environment.yaml'));
      const e = await refusedUntouched({ env: 'b', source: archive() }, 'STN_E_ENVIRONMENT_INVALID');
      expect(e.message).toContain('environments/b/environment.yaml is a symbolic link');
      expect(fs.readFileSync(path.join(work, 'shared.yaml'), 'utf8')).toBe('vars:\n  threshold: 3\n');
    });

    it('an unknown environment', async () => {
      const e = await refusedUntouched({ env: 'prod', source: archive() }, 'STN_E_NOT_FOUND');
      expect(e.message).toContain('environment "prod" does not exist');
      expect(e.message).toContain('known: a, b');
    });
  });

  describe('refuses unsafe archives, writing nothing:', () => {
    const kit = (entries: RawEntry[]): RawEntry[] => [{ name: 'kit/template.json', data: JSON.stringify({ name: 'kit', version: '1.0.0', files: [] }) }, ...entries];
    const cases: Array<[string, () => Buffer, string]> = [
      ['path traversal', () => gzip(rawTar(kit([{ name: 'kit/../../../evil.sh', data: 'rm -rf /' }]))), 'STN_E_BUNDLE_PATH'],
      ['absolute path', () => gzip(rawTar(kit([{ name: '/tmp/evil', data: 'x' }]))), 'STN_E_BUNDLE_PATH'],
      ['symlink', () => gzip(rawTar(kit([{ name: 'kit/workflows/a.workflow.yaml', type: '2', linkname: '../../../../etc/passwd' }]))), 'STN_E_BUNDLE_LINK'],
      ['hard link', () => gzip(rawTar(kit([{ name: 'kit/workflows/a.workflow.yaml', type: '1', linkname: 'etc/passwd' }]))), 'STN_E_BUNDLE_LINK'],
      ['character device', () => gzip(rawTar(kit([{ name: 'kit/zero', type: '3' }]))), 'STN_E_BUNDLE_ENTRY_TYPE'],
      ['FIFO', () => gzip(rawTar(kit([{ name: 'kit/fifo', type: '6' }]))), 'STN_E_BUNDLE_ENTRY_TYPE'],
      ['zip bomb', () => Buffer.concat(Array.from({ length: 8 }, () => zlib.gzipSync(Buffer.alloc(16 * 1024 * 1024)))), 'STN_E_BUNDLE_TOO_LARGE'],
      // Random bytes do not compress: 17 MiB on disk, over the 16 MiB limit.
      ['archive over the size limit', () => randomBytes(17 * 1024 * 1024), 'STN_E_BUNDLE_TOO_LARGE'],
      ['bad tar header', () => gzip(rawTar([{ name: 'kit/template.json', data: '{}', badChecksum: true }])), 'STN_E_BUNDLE_CORRUPT'],
    ];
    for (const [what, build, code] of cases) {
      it(`${what} (${code})`, async () => {
        const file = path.join(work, 'evil.tar.gz');
        fs.writeFileSync(file, build());
        await refusedUntouched({ source: file }, code);
      });
    }

    it('a file that is also a folder, even with a file list that matches (STN_E_BUNDLE_PATH), leaving no bundles/ behind', async () => {
      const wf = varsWorkflow('kit-show');
      const listedFiles = { agents: 'x', 'agents/x.prompt': 'y', 'workflows/kit-show.workflow.yaml': wf };
      const manifest = JSON.stringify({
        name: 'kit',
        version: '1.0.0',
        files: Object.entries(listedFiles).map(([p, d]) => ({ path: p, sha256: sha256(d) })),
      });
      const file = path.join(work, 'clash.tar.gz');
      fs.writeFileSync(file, gzip(rawTar([{ name: 'kit/template.json', data: manifest }, ...Object.entries(listedFiles).map(([p, d]) => ({ name: `kit/${p}`, data: d }))])));
      const e = await refusedUntouched({ source: file, vars: ['threshold=1'] }, 'STN_E_BUNDLE_PATH');
      expect(e.message).toContain('"kit/agents" is a file, but "kit/agents/x.prompt" needs it to be a folder');
      expect(fs.existsSync(path.join(repo.dir, 'bundles'))).toBe(false);
    });

    it('a file list that names a path twice (STN_E_BUNDLE_CHECKSUM)', async () => {
      const wf = varsWorkflow('kit-show');
      const entry = { path: 'workflows/kit-show.workflow.yaml', sha256: sha256(wf) };
      const manifest = JSON.stringify({ name: 'kit', version: '1.0.0', files: [{ ...entry, sha256: 'f'.repeat(64) }, entry] });
      const file = path.join(work, 'twice.tar.gz');
      fs.writeFileSync(file, gzip(rawTar([{ name: 'kit/template.json', data: manifest }, { name: 'kit/workflows/kit-show.workflow.yaml', data: wf }])));
      const e = await refusedUntouched({ source: file, vars: ['threshold=1'] }, 'STN_E_BUNDLE_CHECKSUM');
      expect(e.message).toContain("workflows/kit-show.workflow.yaml: listed more than once in template.json's file list");
    });

    it('a truncated archive (STN_E_BUNDLE_TRUNCATED)', async () => {
      const full = fs.readFileSync(archive({ extraFiles: { 'agents/notes.prompt': randomBytes(4000).toString('hex') } }));
      const file = path.join(work, 'cut.tar.gz');
      fs.writeFileSync(file, full.subarray(0, full.length - 100));
      const e = await refusedUntouched({ source: file }, 'STN_E_BUNDLE_TRUNCATED');
      expect(e.message).toContain('truncated');
    });

    it('a file that does not match the checksum list (STN_E_BUNDLE_CHECKSUM)', async () => {
      const src = writeBundleFolder(path.join(work, 'src'));
      const good = createBundle(src, { output: path.join(work, 'good.tar.gz') });
      // Same template.json (and file list), tampered workflow: rebuilt by hand.
      const listed = unpackArchive(fs.readFileSync(good.file));
      const tampered = varsWorkflow('kit-show').replace('greeting', 'greetinG');
      const file = path.join(work, 'tampered.tar.gz');
      fs.writeFileSync(
        file,
        gzip(
          rawTar([
            { name: 'kit/template.json', data: listed.files.get('template.json')?.data ?? '' },
            { name: 'kit/workflows/kit-show.workflow.yaml', data: tampered },
          ]),
        ),
      );
      const e = await refusedUntouched({ source: file, vars: ['threshold=1'] }, 'STN_E_BUNDLE_CHECKSUM');
      expect(e.message).toContain('workflows/kit-show.workflow.yaml: SHA-256');
      // An extra, unlisted file is refused too.
      fs.writeFileSync(
        file,
        gzip(
          rawTar([
            { name: 'kit/template.json', data: listed.files.get('template.json')?.data ?? '' },
            { name: 'kit/workflows/kit-show.workflow.yaml', data: varsWorkflow('kit-show') },
            { name: 'kit/workflows/extra.workflow.yaml', data: workflowYaml('kit-extra') },
          ]),
        ),
      );
      expect((await refusedUntouched({ source: file }, 'STN_E_BUNDLE_CHECKSUM')).message).toContain(
        "workflows/extra.workflow.yaml: not in template.json's file list",
      );
    });

    it('an archive that does not match --sha256 (STN_E_BUNDLE_CHECKSUM)', async () => {
      const e = await refusedUntouched({ source: archive(), sha256: 'a'.repeat(64) }, 'STN_E_BUNDLE_CHECKSUM');
      expect(e.message).toContain(`not the expected ${'a'.repeat(64)}`);
    });
  });

  describe('upgrade', () => {
    const v1 = () =>
      archive({ version: '1.0.0', workflows: { 'kit-show.workflow.yaml': varsWorkflow('kit-show'), 'kit-old.workflow.yaml': workflowYaml('kit-old'), 'kit-same.workflow.yaml': workflowYaml('kit-same') } }, 'v1');
    const v2 = () =>
      archive(
        {
          version: '1.1.0',
          variables: { greeting: { type: 'string', default: 'hello' }, threshold: { type: 'integer', required: true }, region: { type: 'string', default: 'eu' } },
          workflows: {
            'kit-show.workflow.yaml': varsWorkflow('kit-show', '      region: "{{ vars.region }}"\n'),
            'kit-new.workflow.yaml': workflowYaml('kit-new'),
            'kit-same.workflow.yaml': workflowYaml('kit-same'),
          },
        },
        'v2',
      );

    it('is refused without --upgrade, with a summary of what it would change', async () => {
      await install({ source: v1() });
      await installBundle({ repo: repo.dir, env: 'b', source: v1(), vars: ['threshold=3'] });
      const e = await refusedUntouched({ source: v2() }, 'STN_E_BUNDLE_UPGRADE');
      expect(e.message).toBe(
        [
          'kit 1.0.0 -> 1.1.0 (upgrade); pass --upgrade to replace it:',
          '  workflows added: kit-new',
          '  workflows removed (disabled at the next sync): kit-old',
          '  workflows changed: kit-show',
          '  variables added: region; removed: -',
          '  also used by: b (bundles/kit/ is shared; they change too)',
        ].join('\n'),
      );
      expect(e.details).toMatchObject({ changes: { from: '1.0.0', to: '1.1.0', unchanged: ['kit-same'] } });
    });

    it('with --upgrade replaces the folder and updates the version in every environment that lists it', async () => {
      await install({ source: v1() });
      await installBundle({ repo: repo.dir, env: 'b', source: v1(), vars: ['threshold=3'] });
      const r = await install({ source: v2(), upgrade: true });
      expect(r).toMatchObject({ action: 'upgraded', version: '1.1.0', changes: { added: ['kit-new'], removed: ['kit-old'], changed: ['kit-show'] } });
      expect(r.files).toEqual(['environments/a/environment.yaml', 'environments/b/environment.yaml']);
      expect(fs.readdirSync(path.join(repo.dir, 'bundles/kit/workflows')).sort()).toEqual(['kit-new.workflow.yaml', 'kit-same.workflow.yaml', 'kit-show.workflow.yaml']);
      expect(repo.read('environments/b/environment.yaml')).toContain('version: "1.1.0"');
      // No staging or old folders left behind.
      expect(fs.readdirSync(path.join(repo.dir, 'bundles'))).toEqual(['kit']);
      // A downgrade is an upgrade too, and says so.
      const back = await refused({ source: v1() });
      expect(back.message).toContain('kit 1.1.0 -> 1.0.0 (downgrade)');
    });

    it('is refused when the new version collides in another environment that uses the bundle', async () => {
      await install({ source: v1() });
      repo.write('environments/b/workflows/kit-new.workflow.yaml', workflowYaml('kit-new'));
      await installBundle({ repo: repo.dir, env: 'b', source: v1(), vars: ['threshold=3'] });
      const e = await refusedUntouched({ source: v2(), upgrade: true }, 'STN_E_BUNDLE_CONFLICT');
      expect(e.message).toContain('b: workflow id "kit-new"');
    });

    it('treats the same version with other content as a change that needs --upgrade', async () => {
      await install({ source: v1() });
      fs.appendFileSync(path.join(repo.dir, 'bundles/kit/workflows/kit-same.workflow.yaml'), '# edited by hand\n');
      const e = await refusedUntouched({ source: v1() }, 'STN_E_BUNDLE_UPGRADE');
      expect(e.message.split('\n')[0]).toBe('kit 1.0.0 is installed with different content; pass --upgrade to replace it:');
      expect(listBundles(repo.dir)[0]?.problems).toEqual(['changed since install: workflows/kit-same.workflow.yaml']);
    });
  });

  describe('from a URL', () => {
    let server: http.Server;
    let base: string;
    let body: Buffer;
    beforeEach(async () => {
      body = fs.readFileSync(archive());
      server = http.createServer((req, res) => {
        if (req.url === '/kit.tar.gz') res.end(body);
        else res.writeHead(404).end('not found');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterEach(async () => {
      await new Promise((resolve) => server.close(resolve));
    });

    it('downloads, verifies --sha256 and installs', async () => {
      const r = await install({ source: `${base}/kit.tar.gz`, sha256: sha256(body), allowLoopbackHttp: true });
      expect(r.action).toBe('installed');
      expect(fs.existsSync(path.join(repo.dir, 'bundles/kit/template.json'))).toBe(true);
    });

    it('requires --sha256, https (loopback http only when allowed for tests), and a 2xx answer', async () => {
      expect((await refusedUntouched({ source: `${base}/kit.tar.gz` }, 'STN_E_USAGE')).message).toContain('needs --sha256');
      expect((await refusedUntouched({ source: `${base}/kit.tar.gz`, sha256: sha256(body) }, 'STN_E_BUNDLE_DOWNLOAD')).message).toContain(
        'only https:// URLs',
      );
      expect((await refusedUntouched({ source: `${base}/nope.tar.gz`, sha256: sha256(body), allowLoopbackHttp: true }, 'STN_E_BUNDLE_DOWNLOAD')).message).toContain(
        'answered 404',
      );
      await refusedUntouched({ source: `${base}/kit.tar.gz`, sha256: 'b'.repeat(64), allowLoopbackHttp: true }, 'STN_E_BUNDLE_CHECKSUM');
      // A connection refused is a download error, not a crash.
      await new Promise((resolve) => server.close(resolve));
      server = http.createServer();
      await refusedUntouched({ source: `${base}/kit.tar.gz`, sha256: sha256(body), allowLoopbackHttp: true }, 'STN_E_BUNDLE_DOWNLOAD');
    });

    it('stops a download over the size limit', async () => {
      const e = await refusedUntouched(
        { source: `${base}/kit.tar.gz`, sha256: sha256(body), allowLoopbackHttp: true, limits: { maxArchiveBytes: 100, maxExpandedBytes: 1e6, maxFiles: 10 } },
        'STN_E_BUNDLE_TOO_LARGE',
      );
      expect(e.message).toContain('100-byte limit');
    });
  });
});
