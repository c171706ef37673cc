/**
 * Bundle archives: a gzip'd ustar whose entries all sit under one folder named after the bundle
 * (`sre-playbooks/template.json`, `sre-playbooks/workflows/...`). Writing is deterministic; reading refuses anything
 * that could write outside the target folder or exhaust the machine, and names the entry it refused.
 */
import zlib from 'node:zlib';
import { DEFAULTS } from '../config/defaults.js';
import { StationError } from '../errors.js';
import { readTar, writeTar } from './tar.js';

/** One file of a bundle, keyed elsewhere by its path relative to the bundle's folder. */
export interface BundleFile {
  data: Buffer;
  executable: boolean;
}

/** A bundle's files in memory, path (relative, '/' separators) → file. */
export type FileMap = Map<string, BundleFile>;

export interface ArchiveLimits {
  /** Largest compressed archive accepted. */
  maxArchiveBytes: number;
  /** Largest tar stream after gunzip: reading stops as soon as it is passed (zip-bomb guard). */
  maxExpandedBytes: number;
  /** Most entries (files and folders). */
  maxFiles: number;
}

export const DEFAULT_LIMITS: ArchiveLimits = { ...DEFAULTS.bundles };

/** gzip header byte 9: the OS that wrote the archive. Fixed to Unix so every platform writes the same bytes. */
const GZIP_OS_UNIX = 3;

/** Writes `<root>/<path>` entries in byte order of their paths; the same files always give the same bytes. */
export function packArchive(root: string, files: FileMap): Buffer {
  const paths = [...files.keys()].sort(comparePaths);
  const tar = writeTar(
    paths.map((p) => {
      const f = files.get(p) as BundleFile;
      return { path: `${root}/${p}`, data: f.data, executable: f.executable };
    }),
  );
  // zlib writes mtime 0 when it is given no header; the level is fixed so the deflate stream is too.
  const gz = zlib.gzipSync(tar, { level: 9, memLevel: 8, strategy: zlib.constants.Z_DEFAULT_STRATEGY });
  gz[9] = GZIP_OS_UNIX;
  return gz;
}

/** Byte order (not locale order), so the archive does not depend on the machine's language settings. */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The bundle folder name and files found in an archive. */
export interface UnpackedArchive {
  root: string;
  files: FileMap;
}

/**
 * Reads an archive into memory after checking every entry. Refuses (each with its own code, naming the entry):
 * archives over the size limit or expanding beyond it, bad gzip or tar data, truncation, absolute paths and `..`,
 * duplicate paths, entries outside the single top folder, links, devices, FIFOs and any other entry type.
 */
export function unpackArchive(bytes: Uint8Array, limits: ArchiveLimits = DEFAULT_LIMITS): UnpackedArchive {
  if (bytes.length > limits.maxArchiveBytes) {
    throw new StationError('STN_E_BUNDLE_TOO_LARGE', `archive is ${bytes.length} bytes, over the ${limits.maxArchiveBytes}-byte limit`, {
      size: bytes.length,
      limit: limits.maxArchiveBytes,
    });
  }
  const tar = gunzip(bytes, limits.maxExpandedBytes);
  const files: FileMap = new Map();
  const seen = new Map<string, string>();
  let root: string | undefined;
  let count = 0;
  readTar(tar, (e) => {
    if (++count > limits.maxFiles) {
      throw new StationError('STN_E_BUNDLE_TOO_LARGE', `archive holds more than ${limits.maxFiles} entries (at "${e.path}")`, { entry: e.path });
    }
    // The entry type first: a pax or GNU extension header is named by what it is, not by its odd path.
    switch (e.kind) {
      case 'file':
      case 'directory':
        break;
      case 'symlink':
      case 'hardlink':
        throw new StationError(
          'STN_E_BUNDLE_LINK',
          `archive entry "${e.path}" is a ${e.kind === 'symlink' ? 'symbolic' : 'hard'} link (to "${e.linkTarget}"): bundles may only hold plain files`,
          { entry: e.path, kind: e.kind, target: e.linkTarget },
        );
      case 'char-device':
      case 'block-device':
      case 'fifo':
        throw new StationError('STN_E_BUNDLE_ENTRY_TYPE', `archive entry "${e.path}" is a ${e.kind.replace('-', ' ')}: bundles may only hold plain files`, {
          entry: e.path,
          kind: e.kind,
        });
      case 'unsupported':
        throw new StationError(
          'STN_E_BUNDLE_ENTRY_TYPE',
          `archive entry "${printable(e.path)}" has tar type "${printable(e.typeflag)}"${EXTENSIONS[e.typeflag] ? ` (${EXTENSIONS[e.typeflag]})` : ''}, which bundles do not use (create archives with "stn bundle create")`,
          { entry: e.path, typeflag: e.typeflag },
        );
      default: {
        const never: never = e.kind;
        throw new Error(`unknown entry kind ${String(never)}`);
      }
    }
    const segments = checkEntryPath(e.path);
    if (e.kind === 'file' && e.path.endsWith('/')) {
      throw new StationError('STN_E_BUNDLE_PATH', `archive entry "${printable(e.path)}" is a file whose name ends with "/" (a folder name)`, { entry: e.path });
    }
    const top = segments[0] as string;
    root ??= top;
    if (top !== root) {
      throw new StationError('STN_E_BUNDLE_PATH', `archive entry "${e.path}" is outside the bundle folder "${root}/"`, { entry: e.path });
    }
    if (e.kind === 'directory') return;
    if (segments.length < 2) {
      throw new StationError('STN_E_BUNDLE_PATH', `archive entry "${e.path}" is a file at the top level; bundle files belong under "${root}/"`, {
        entry: e.path,
      });
    }
    const rel = segments.slice(1).join('/');
    // Two entries for one path (or two that a case-insensitive or Unicode-normalizing file system would merge): the
    // later would win silently.
    const folded = fold(rel);
    const earlier = seen.get(folded);
    if (earlier !== undefined) {
      throw new StationError('STN_E_BUNDLE_PATH', `archive holds "${e.path}" twice${earlier !== rel ? ` (as "${root}/${earlier}")` : ''}`, {
        entry: e.path,
      });
    }
    seen.set(folded, rel);
    files.set(rel, { data: Buffer.from(e.data), executable: (e.mode & 0o111) !== 0 });
  });
  checkFileFolderClashes(root, seen);
  if (root === undefined) throw new StationError('STN_E_BUNDLE_INVALID', 'archive is empty');
  return { root, files };
}

/** Gunzips with a ceiling: zlib stops as soon as the output passes `max`, so a bomb never expands in memory. */
function gunzip(bytes: Uint8Array, max: number): Buffer {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) {
    throw new StationError('STN_E_BUNDLE_CORRUPT', "not a gzip file: a bundle archive is a .tar.gz made by stn bundle create");
  }
  try {
    return zlib.gunzipSync(bytes, { maxOutputLength: max });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
      throw new StationError('STN_E_BUNDLE_TOO_LARGE', `archive expands beyond the ${max}-byte limit (zip-bomb guard); reading stopped there`, {
        limit: max,
      });
    }
    if (e.code === 'Z_BUF_ERROR') {
      throw new StationError('STN_E_BUNDLE_TRUNCATED', 'archive is truncated: the gzip data ends early (an interrupted download or copy?)');
    }
    throw new StationError('STN_E_BUNDLE_CORRUPT', `archive is not valid gzip data: ${e.message}`);
  }
}

/** Extension headers other tars write, named in the refusal (stn's archives never need them: paths fit in ustar). */
const EXTENSIONS: Record<string, string> = {
  x: 'a pax extended header',
  g: 'a pax global header',
  L: 'a GNU long name',
  K: 'a GNU long link name',
};

/** Splits an entry path into segments, refusing anything that could land outside the target folder. */
function checkEntryPath(p: string): string[] {
  const refuse = (why: string): never => {
    throw new StationError('STN_E_BUNDLE_PATH', `archive entry "${printable(p)}" ${why}`, { entry: p });
  };
  if (p === '') refuse('has an empty name');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(p)) refuse('has a control character in its name');
  if (p.includes('\\')) refuse('has a backslash in its name');
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) refuse('has an absolute path');
  const segments = p.replace(/\/$/, '').split('/');
  if (segments.some((s) => s === '..')) refuse('has a ".." segment (path traversal)');
  if (segments.some((s) => s === '' || s === '.')) refuse('has an empty or "." path segment');
  // "stn bundle create" never packs hidden files, and reading an installed folder skips them: a .gitignore or .git/
  // inside bundles/<name>/ would hide files from review or be taken for a nested repository.
  const hidden = segments.find((s) => s.startsWith('.'));
  if (hidden !== undefined) refuse(`has a hidden name ("${printable(hidden)}"); bundles hold no files or folders starting with "."`);
  return segments;
}

/** The form of a path that case-insensitive and Unicode-normalizing file systems (macOS, Windows) compare. */
function fold(rel: string): string {
  return rel.normalize('NFC').toLowerCase();
}

/** A file that is also the folder of another file ("agents" and "agents/x.prompt") cannot be written: refuse it by name. */
function checkFileFolderClashes(root: string | undefined, seen: Map<string, string>): void {
  for (const [folded, rel] of seen) {
    const segments = folded.split('/');
    for (let i = 1; i < segments.length; i++) {
      const parent = seen.get(segments.slice(0, i).join('/'));
      if (parent !== undefined) {
        throw new StationError('STN_E_BUNDLE_PATH', `archive entry "${root}/${parent}" is a file, but "${root}/${rel}" needs it to be a folder`, {
          entry: `${root}/${parent}`,
        });
      }
    }
  }
}

function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
