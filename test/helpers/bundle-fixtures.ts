/**
 * Bundle test fixtures: tar headers written by hand (so malicious archives are built independently of the code
 * under test), a small bundle folder, and a byte-level snapshot of a checkout.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

export interface RawEntry {
  name: string;
  /** Tar type flag: '0' file, '1' hard link, '2' symlink, '3' char device, '4' block device, '5' folder, '6' FIFO. */
  type?: string;
  data?: string | Buffer;
  linkname?: string;
  mode?: number;
  /** ustar prefix field (joined to name with '/'). */
  prefix?: string;
  /** Override the declared size (to fake a truncated entry). */
  size?: number;
  /** Corrupt the header checksum. */
  badChecksum?: boolean;
}

/** One 512-byte ustar header, laid out field by field as POSIX describes it. */
export function rawHeader(e: RawEntry): Buffer {
  const h = Buffer.alloc(512);
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
  const octal = (off: number, len: number, n: number) => h.write(`${n.toString(8).padStart(len - 1, '0')}\0`, off, 'latin1');
  h.write(e.name, 0, 'utf8');
  octal(100, 8, e.mode ?? 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, e.size ?? data.length);
  octal(136, 12, 0);
  h.write(e.type ?? '0', 156, 'latin1');
  h.write(e.linkname ?? '', 157, 'utf8');
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  h.write(e.prefix ?? '', 345, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  if (e.badChecksum) sum += 1;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/** A tar stream of the given entries (data padded to 512), with or without the end-of-archive blocks. */
export function rawTar(entries: RawEntry[], { end = true }: { end?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    parts.push(rawHeader(e), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  if (end) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export const gzip = (b: Buffer): Buffer => zlib.gzipSync(b);

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A workflow whose output shows the bundle variables it read. */
export function varsWorkflow(id: string, extra = ''): string {
  return `id: ${id}
version: "1"
name: ${id}
states:
  - name: show
    type: inject
    resultPath: result
    data:
      greeting: "{{ vars.greeting }}"
      threshold: "{{ vars.threshold }}"
      team: "{{ vars.team }}"
${extra}    end: true
output: "{{ result }}"
`;
}

export interface BundleSpec {
  name?: string;
  version?: string;
  station?: string;
  variables?: Record<string, unknown>;
  workflows?: Record<string, string>;
  extraFiles?: Record<string, string>;
}

/** Writes a bundle folder: template.json and workflows/<file>. Returns the folder. */
export function writeBundleFolder(dir: string, spec: BundleSpec = {}): string {
  const name = spec.name ?? 'kit';
  const manifest = {
    name,
    version: spec.version ?? '1.0.0',
    description: 'Test kit',
    author: 'Tests',
    license: 'Apache-2.0',
    ...(spec.station !== undefined ? { station: spec.station } : {}),
    variables: spec.variables ?? {
      greeting: { type: 'string', description: 'Says hello', default: 'hello' },
      threshold: { type: 'integer', required: true },
    },
  };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'workflows'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'template.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const workflows = spec.workflows ?? { 'kit-show.workflow.yaml': varsWorkflow('kit-show') };
  for (const [file, text] of Object.entries(workflows)) fs.writeFileSync(path.join(dir, 'workflows', file), text);
  for (const [file, text] of Object.entries(spec.extraFiles ?? {})) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  }
  return dir;
}

/**
 * Every file and folder under `dir` (except .git and .station) with the SHA-256 of its bytes, and links as links:
 * two equal snapshots mean nothing was written, renamed or left behind.
 */
export function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (abs: string, rel: string) => {
    for (const e of fs.readdirSync(abs, { withFileTypes: true })) {
      if (rel === '' && (e.name === '.git' || e.name === '.station')) continue;
      const childAbs = path.join(abs, e.name);
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      if (e.isSymbolicLink()) out[childRel] = `link:${fs.readlinkSync(childAbs)}`;
      else if (e.isDirectory()) {
        out[`${childRel}/`] = 'dir';
        walk(childAbs, childRel);
      } else out[childRel] = sha256(fs.readFileSync(childAbs));
    }
  };
  walk(dir, '');
  return out;
}
