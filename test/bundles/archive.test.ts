import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { packArchive, unpackArchive, type ArchiveLimits, type FileMap } from '../../src/bundles/archive.js';
import { StationError } from '../../src/errors.js';
import { gzip, rawTar, type RawEntry } from '../helpers/bundle-fixtures.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stn-archive-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function files(entries: Record<string, string>, executable: string[] = []): FileMap {
  return new Map(Object.entries(entries).map(([p, d]) => [p, { data: Buffer.from(d), executable: executable.includes(p) }]));
}

/** The StationError an unpack throws (fails the test when it does not throw one). */
function refusal(bytes: Buffer, limits?: ArchiveLimits): StationError {
  try {
    unpackArchive(bytes, limits);
  } catch (err) {
    if (err instanceof StationError) return err;
    throw err;
  }
  throw new Error('archive was accepted');
}

const ok = (name: string, data = 'x'): RawEntry => ({ name, data });

describe('packArchive', () => {
  const sample = files(
    { 'template.json': '{"name":"kit"}\n', 'workflows/b.workflow.yaml': 'b', 'workflows/a.workflow.yaml': 'a', 'scripts/run.sh': '#!/bin/sh\n' },
    ['scripts/run.sh'],
  );

  it('gives the same bytes for the same files, whatever the insertion order', () => {
    const reversed: FileMap = new Map([...sample.entries()].reverse());
    expect(packArchive('kit', sample).equals(packArchive('kit', reversed))).toBe(true);
  });

  it('writes a standard archive: sorted entries, owner 0/0, mtime 0, modes 0644/0755, gzip mtime 0', () => {
    const file = path.join(tmp, 'kit.tar.gz');
    const archive = packArchive('kit', sample);
    fs.writeFileSync(file, archive);
    // The system's tar reads it, in our order, with our metadata.
    const listing = execFileSync('tar', ['-tvzf', file, '--numeric-owner'], { encoding: 'utf8' }).trim().split('\n');
    expect(listing.map((l) => l.split(/\s+/).at(-1))).toEqual([
      'kit/scripts/run.sh',
      'kit/template.json',
      'kit/workflows/a.workflow.yaml',
      'kit/workflows/b.workflow.yaml',
    ]);
    expect(listing[0]).toMatch(/^-rwxr-xr-x 0\/0 .* 1970-01-01 00:00 kit\/scripts\/run.sh$/);
    expect(listing[1]).toMatch(/^-rw-r--r-- 0\/0 /);
    expect(archive.readUInt32LE(4)).toBe(0); // gzip MTIME
    expect(archive[9]).toBe(3); // gzip OS: Unix, on every platform
    const out = path.join(tmp, 'x');
    fs.mkdirSync(out);
    execFileSync('tar', ['-xzf', file, '-C', out]);
    expect(fs.readFileSync(path.join(out, 'kit/workflows/a.workflow.yaml'), 'utf8')).toBe('a');
  });

  it('round-trips through unpackArchive, executable bits included', () => {
    const { root, files: back } = unpackArchive(packArchive('kit', sample));
    expect(root).toBe('kit');
    expect([...back.keys()].sort()).toEqual([...sample.keys()].sort());
    expect(back.get('scripts/run.sh')).toMatchObject({ executable: true });
    expect(back.get('template.json')?.data.toString()).toBe('{"name":"kit"}\n');
  });

  it('stores paths over 100 bytes in the ustar prefix field', () => {
    const long = `workflows/${'d'.repeat(90)}/${'f'.repeat(80)}.workflow.yaml`;
    const { files: back } = unpackArchive(packArchive('kit', files({ [long]: 'long' })));
    expect(back.get(long)?.data.toString()).toBe('long');
  });

  it('reads archives made by the system tar (folder entries included)', () => {
    const src = path.join(tmp, 'sys');
    fs.mkdirSync(path.join(src, 'kit', 'workflows'), { recursive: true });
    fs.writeFileSync(path.join(src, 'kit', 'template.json'), '{}');
    fs.writeFileSync(path.join(src, 'kit', 'workflows', 'a.workflow.yaml'), 'a');
    const file = path.join(tmp, 'sys.tar.gz');
    for (const format of ['ustar', 'gnu']) {
      execFileSync('tar', [`--format=${format}`, '-czf', file, '-C', src, 'kit']);
      const { root, files: back } = unpackArchive(fs.readFileSync(file));
      expect(root, format).toBe('kit');
      expect([...back.keys()].sort(), format).toEqual(['template.json', 'workflows/a.workflow.yaml']);
    }
  });
});

describe('unpackArchive refuses', () => {
  const cases: Array<[string, RawEntry[], string, string]> = [
    ['a ".." path', [ok('kit/template.json'), ok('kit/../../etc/cron.d/evil')], 'STN_E_BUNDLE_PATH', 'kit/../../etc/cron.d/evil'],
    ['a ".." hidden in the ustar prefix', [ok('kit/template.json'), { name: 'evil', prefix: 'kit/..', data: 'x' }], 'STN_E_BUNDLE_PATH', 'kit/../evil'],
    ['an absolute path', [ok('/etc/passwd')], 'STN_E_BUNDLE_PATH', '/etc/passwd'],
    ['a Windows drive path', [ok('C:/evil')], 'STN_E_BUNDLE_PATH', 'C:/evil'],
    ['a backslash path', [ok('kit\\..\\evil')], 'STN_E_BUNDLE_PATH', 'kit\\..\\evil'],
    ['a control character', [ok('kit/a\nb')], 'STN_E_BUNDLE_PATH', 'kit/a\\x0ab'],
    ['a symbolic link', [ok('kit/template.json'), { name: 'kit/workflows/x.workflow.yaml', type: '2', linkname: '/etc/passwd' }], 'STN_E_BUNDLE_LINK', 'kit/workflows/x.workflow.yaml'],
    ['a hard link', [ok('kit/template.json'), { name: 'kit/passwd', type: '1', linkname: '/etc/passwd' }], 'STN_E_BUNDLE_LINK', 'kit/passwd'],
    ['a character device', [{ name: 'kit/null', type: '3' }], 'STN_E_BUNDLE_ENTRY_TYPE', 'kit/null'],
    ['a block device', [{ name: 'kit/sda', type: '4' }], 'STN_E_BUNDLE_ENTRY_TYPE', 'kit/sda'],
    ['a FIFO', [{ name: 'kit/pipe', type: '6' }], 'STN_E_BUNDLE_ENTRY_TYPE', 'kit/pipe'],
    ['a pax extended header', [{ name: 'kit/PaxHeader', type: 'x', data: '30 path=../../../etc/passwd\n' }], 'STN_E_BUNDLE_ENTRY_TYPE', 'kit/PaxHeader'],
    ['the same path twice', [ok('kit/template.json', 'a'), ok('kit/template.json', 'b')], 'STN_E_BUNDLE_PATH', 'kit/template.json'],
    ['paths that differ only in case', [ok('kit/Run.sh'), ok('kit/run.sh')], 'STN_E_BUNDLE_PATH', 'kit/run.sh'],
    ['an entry outside the bundle folder', [ok('kit/template.json'), ok('other/x')], 'STN_E_BUNDLE_PATH', 'other/x'],
    ['a file at the top level', [ok('template.json')], 'STN_E_BUNDLE_PATH', 'template.json'],
    ['a "." segment', [ok('kit/./x')], 'STN_E_BUNDLE_PATH', 'kit/./x'],
    ['a bad header checksum', [{ name: 'kit/template.json', data: '{}', badChecksum: true }], 'STN_E_BUNDLE_CORRUPT', 'kit/template.json'],
    ['a GNU long name header', [{ name: '././@LongLink', type: 'L', data: 'kit/../../../etc/passwd\0' }], 'STN_E_BUNDLE_ENTRY_TYPE', '././@LongLink'],
    ['a file through a symbolic link', [{ name: 'kit/out', type: '2', linkname: '/tmp' }, ok('kit/out/evil')], 'STN_E_BUNDLE_LINK', 'kit/out'],
    ['a file entry named like a folder', [ok('kit/template.json'), { name: 'kit/workflows/', data: '' }, ok('kit/workflows/a.workflow.yaml')], 'STN_E_BUNDLE_PATH', 'kit/workflows/'],
    ['a file that another entry needs as its folder', [ok('kit/agents'), ok('kit/agents/x.prompt')], 'STN_E_BUNDLE_PATH', 'kit/agents'],
    ['a folder path taken by a later file', [ok('kit/agents/x.prompt'), ok('kit/Agents')], 'STN_E_BUNDLE_PATH', 'kit/Agents'],
    ['a hidden file (.gitignore could hide the bundle from Git)', [ok('kit/template.json'), ok('kit/.gitignore', '*')], 'STN_E_BUNDLE_PATH', 'kit/.gitignore'],
    ['a hidden folder', [ok('kit/template.json'), ok('kit/.git/hooks/post-checkout', '#!/bin/sh')], 'STN_E_BUNDLE_PATH', 'kit/.git/hooks/post-checkout'],
    ['paths that differ only in Unicode normalization', [ok('kit/caf\u00e9.prompt'), ok('kit/cafe\u0301.prompt')], 'STN_E_BUNDLE_PATH', 'kit/cafe\u0301.prompt'],
  ];
  for (const [what, entries, code, entry] of cases) {
    it(`${what} (${code}), naming the entry`, () => {
      const e = refusal(gzip(rawTar(entries)));
      expect(e.code).toBe(code);
      expect(e.message).toContain(`"${entry}"`);
    });
  }

  it('extension headers by what they are', () => {
    expect(refusal(gzip(rawTar([{ name: '././@LongLink', type: 'L', data: 'x' }]))).message).toContain('(a GNU long name)');
    expect(refusal(gzip(rawTar([{ name: 'kit/PaxHeader', type: 'x', data: 'x' }]))).message).toContain('(a pax extended header)');
  });

  it('data after the end-of-archive marker (entries other readers would show), but not zero padding', () => {
    const hidden = Buffer.concat([rawTar([ok('kit/template.json')]), rawTar([ok('kit/hidden')])]);
    const e = refusal(gzip(hidden));
    expect(e.code).toBe('STN_E_BUNDLE_CORRUPT');
    expect(e.message).toContain('after its end-of-archive marker');
    expect(e.message).toContain('"kit/template.json"');
    // Tars pad the last record with zeros; concatenated gzip members that only carry zeros are that too.
    const padded = Buffer.concat([gzip(rawTar([ok('kit/template.json')])), gzip(Buffer.alloc(8192))]);
    expect([...unpackArchive(padded).files.keys()]).toEqual(['template.json']);
  });

  it('an archive over the compressed size limit, before reading it', () => {
    const archive = gzip(rawTar([ok('kit/a', 'x'.repeat(5000))]));
    const e = refusal(archive, { maxArchiveBytes: archive.length - 1, maxExpandedBytes: 1e9, maxFiles: 10 });
    expect(e.code).toBe('STN_E_BUNDLE_TOO_LARGE');
    expect(e.message).toContain(`${archive.length} bytes`);
  });

  it('a zip bomb: gunzip stops at the expansion limit instead of inflating 1 GiB', () => {
    // 64 gzip members of 16 MiB of zeros each: ~1 MiB on disk, 1 GiB expanded.
    const member = zlib.gzipSync(Buffer.alloc(16 * 1024 * 1024), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 64 }, () => member));
    expect(bomb.length).toBeLessThan(4 * 1024 * 1024);
    const before = process.memoryUsage().rss;
    const started = Date.now();
    const e = refusal(bomb);
    expect(e.code).toBe('STN_E_BUNDLE_TOO_LARGE');
    expect(e.message).toMatch(/expands beyond the 67108864-byte limit/);
    expect(Date.now() - started).toBeLessThan(10_000);
    // Far less than the 1 GiB the archive would expand to.
    expect(process.memoryUsage().rss - before).toBeLessThan(512 * 1024 * 1024);
  });

  it('more entries than the limit', () => {
    const e = refusal(gzip(rawTar([ok('kit/a'), ok('kit/b'), ok('kit/c')])), { maxArchiveBytes: 1e6, maxExpandedBytes: 1e6, maxFiles: 2 });
    expect(e.code).toBe('STN_E_BUNDLE_TOO_LARGE');
    expect(e.message).toContain('"kit/c"');
  });

  it('a truncated download (gzip stream cut short)', () => {
    const full = packArchive('kit', files({ 'template.json': 'x'.repeat(20_000), 'b.txt': 'y'.repeat(5000) }));
    const e = refusal(full.subarray(0, Math.floor(full.length / 2)));
    expect(e.code).toBe('STN_E_BUNDLE_TRUNCATED');
    expect(e.message).toMatch(/truncated/);
  });

  it('a tar that stops inside an entry, or before its end blocks', () => {
    const inside = rawTar([{ name: 'kit/big', data: 'x'.repeat(100), size: 5000 }], { end: false });
    let e = refusal(gzip(inside));
    expect(e.code).toBe('STN_E_BUNDLE_TRUNCATED');
    expect(e.message).toContain('"kit/big"');
    e = refusal(gzip(rawTar([ok('kit/template.json')], { end: false })));
    expect(e.code).toBe('STN_E_BUNDLE_TRUNCATED');
    expect(e.message).toContain('"kit/template.json"');
  });

  it('data that is not gzip, or damaged gzip', () => {
    expect(refusal(rawTar([ok('kit/a')])).code).toBe('STN_E_BUNDLE_CORRUPT');
    const archive = packArchive('kit', files({ 'template.json': 'x'.repeat(2000) }));
    const damaged = Buffer.from(archive);
    damaged[damaged.length - 6] = (damaged[damaged.length - 6] as number) ^ 0xff; // CRC32 of the trailer
    expect(refusal(damaged).code).toBe('STN_E_BUNDLE_CORRUPT');
  });

  it('an empty archive', () => {
    expect(refusal(gzip(rawTar([]))).code).toBe('STN_E_BUNDLE_INVALID');
  });
});
