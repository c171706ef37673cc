/**
 * Bundle folders on disk: read into memory (with the same refusals and limits as archives), and written into
 * place atomically (staged in a hidden sibling folder, then renamed).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StationError } from '../errors.js';
import { DEFAULT_LIMITS, type ArchiveLimits, type FileMap } from './archive.js';

/**
 * Reads every file of a bundle folder. Names starting with "." (.git, .DS_Store, editor files) are skipped;
 * symbolic links and anything that is not a plain file or folder are refused, as in archives.
 */
export function readBundleFolder(dir: string, limits: ArchiveLimits = DEFAULT_LIMITS): FileMap {
  const files: FileMap = new Map();
  let total = 0;
  const walk = (abs: string, rel: string) => {
    for (const e of fs.readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith('.')) continue;
      const childAbs = path.join(abs, e.name);
      const childRel = rel ? `${rel}/${e.name}` : e.name;
      if (e.isSymbolicLink()) {
        throw new StationError('STN_E_BUNDLE_LINK', `${childAbs} is a symbolic link: bundles may only hold plain files (copy the target in)`, {
          entry: childRel,
        });
      }
      if (e.isDirectory()) {
        walk(childAbs, childRel);
        continue;
      }
      if (!e.isFile()) {
        throw new StationError('STN_E_BUNDLE_ENTRY_TYPE', `${childAbs} is not a plain file (a device, FIFO or socket)`, { entry: childRel });
      }
      if (files.size >= limits.maxFiles) {
        throw new StationError('STN_E_BUNDLE_TOO_LARGE', `${dir} holds more than ${limits.maxFiles} files`, { entry: childRel });
      }
      const stat = fs.statSync(childAbs);
      total += stat.size;
      if (total > limits.maxExpandedBytes) {
        throw new StationError('STN_E_BUNDLE_TOO_LARGE', `${dir} holds more than ${limits.maxExpandedBytes} bytes (at ${childRel})`, {
          entry: childRel,
        });
      }
      files.set(childRel, { data: fs.readFileSync(childAbs), executable: (stat.mode & 0o111) !== 0 });
    }
  };
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(dir);
  } catch {
    throw new StationError('STN_E_NOT_FOUND', `bundle folder ${dir} does not exist`);
  }
  if (stat.isSymbolicLink()) throw new StationError('STN_E_BUNDLE_LINK', `${dir} is a symbolic link; pass the real folder`);
  if (!stat.isDirectory()) throw new StationError('STN_E_USAGE', `${dir} is not a folder`);
  walk(dir, '');
  return files;
}

/** Whether two file maps hold the same paths with the same bytes and executable bits. */
export function sameFiles(a: FileMap, b: FileMap): boolean {
  if (a.size !== b.size) return false;
  for (const [p, f] of a) {
    const g = b.get(p);
    if (!g || g.executable !== f.executable || !g.data.equals(f.data)) return false;
  }
  return true;
}

/**
 * Refuses to write through a symbolic link: none of `rels` (paths relative to the checkout, e.g. `bundles`,
 * `bundles/x`, `environments/prod`) may be one. A link there would send the write outside the checkout, or replace
 * a link that Git tracks with a plain folder.
 */
export function refuseLinkedPaths(repo: string, rels: readonly string[]): void {
  for (const rel of rels) {
    if (fs.lstatSync(path.join(repo, ...rel.split('/')), { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw new StationError('STN_E_CHECKOUT_LINK', `${rel}/ in the checkout is a symbolic link: stn bundle commands do not write through links; replace it with a real folder`, {
        path: rel,
      });
    }
  }
}

/** Writes files into a fresh hidden folder next to `target`, so that a rename can move them into place at once. */
export function stageFolder(target: string, files: FileMap): string {
  const parent = path.dirname(target);
  // Whatever the caller checked: a link at the parent or the target is refused here too, before anything is written.
  for (const p of [parent, target]) {
    if (fs.lstatSync(p, { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw new StationError('STN_E_CHECKOUT_LINK', `${p} is a symbolic link: stn does not write through links`, { path: p });
    }
  }
  const createdParent = fs.mkdirSync(parent, { recursive: true });
  // Not mkdtemp: its 0700 would become the installed folder's mode, unreadable to a daemon running as another user.
  // mkdir applies the umask like every other folder of the checkout, and fails rather than reuse an existing path.
  const staging = path.join(parent, `.stn-staging-${path.basename(target)}-${randomBytes(6).toString('hex')}`);
  try {
    fs.mkdirSync(staging);
    for (const [rel, f] of files) {
      const abs = path.join(staging, ...rel.split('/'));
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(abs, f.data, { mode: f.executable ? 0o755 : 0o644 });
    }
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    // A failed install leaves no empty bundles/ behind either.
    if (createdParent !== undefined) fs.rmSync(createdParent, { recursive: true, force: true });
    throw err;
  }
  return staging;
}

/** A fresh, unused hidden path next to `target` to move an old folder aside to. */
export function asidePath(target: string, what: string): string {
  const dir = fs.mkdtempSync(path.join(path.dirname(target), `.stn-${what}-${path.basename(target)}-`));
  fs.rmdirSync(dir);
  return dir;
}

/** Writes a file atomically: a temp file in the same folder, then rename (a reader sees the old or the new bytes). */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.stn-${process.pid}-${Date.now()}.tmp`);
  try {
    fs.writeFileSync(tmp, data, { flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}
