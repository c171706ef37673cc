/**
 * POSIX ustar, the subset bundles use: regular files and folders, written deterministically and read defensively.
 * Links, devices, FIFOs and extension headers are reported as what they are, so the caller can refuse them by name.
 */
import { StationError } from '../errors.js';

const BLOCK = 512;

/** A file to write: a path with '/' separators and its bytes. */
export interface TarFile {
  path: string;
  data: Uint8Array;
  executable: boolean;
}

export type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'char-device' | 'block-device' | 'fifo' | 'unsupported';

/** One entry as read from an archive. Data is only kept for regular files. */
export interface TarEntry {
  path: string;
  kind: EntryKind;
  /** The raw type flag, for messages about unsupported entries. */
  typeflag: string;
  mode: number;
  linkTarget: string;
  data: Uint8Array;
}

// ----------------------------------------------------------------------------------------------------- writing

function writeString(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new StationError('STN_E_BUNDLE_PATH', `tar: "${value}" does not fit in ${length} bytes`);
  bytes.copy(header, offset);
}

/** Octal, zero-padded, NUL-terminated: the form every tar reads. */
function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  writeString(header, offset, length, `${value.toString(8).padStart(length - 1, '0')}\0`);
}

/** Splits a long path into ustar's prefix (155 bytes) and name (100 bytes) at a '/'. */
function splitPath(p: string): { name: string; prefix: string } {
  if (Buffer.byteLength(p) <= 100) return { name: p, prefix: '' };
  for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) {
    const prefix = p.slice(0, i);
    const name = p.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return { name, prefix };
  }
  throw new StationError('STN_E_BUNDLE_PATH', `path "${p}" is too long for a tar archive (name 100 bytes, folder 155)`, { entry: p });
}

function header(file: TarFile): Buffer {
  const h = Buffer.alloc(BLOCK);
  const { name, prefix } = splitPath(file.path);
  writeString(h, 0, 100, name);
  writeOctal(h, 100, 8, file.executable ? 0o755 : 0o644);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  writeOctal(h, 124, 12, file.data.length);
  writeOctal(h, 136, 12, 0); // mtime: fixed, so the same files give the same bytes
  h.fill(0x20, 148, 156); // checksum field counts as spaces while summing
  h.write('0', 156, 'latin1'); // regular file
  writeString(h, 257, 6, 'ustar\0');
  writeString(h, 263, 2, '00');
  // uname/gname stay empty; devmajor/devminor are zero.
  writeOctal(h, 329, 8, 0);
  writeOctal(h, 337, 8, 0);
  writeString(h, 345, 155, prefix);
  writeString(h, 148, 8, `${checksum(h).toString(8).padStart(6, '0')}\0 `);
  return h;
}

function checksum(h: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number);
  return sum;
}

/** Writes files (in the order given) followed by the two zero blocks that end an archive. */
export function writeTar(files: readonly TarFile[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of files) {
    parts.push(header(f), Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength));
    const pad = (BLOCK - (f.data.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

// ----------------------------------------------------------------------------------------------------- reading

function readString(block: Uint8Array, offset: number, length: number): string {
  const bytes = block.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return Buffer.from(end === -1 ? bytes : bytes.subarray(0, end)).toString('utf8');
}

function readOctal(block: Uint8Array, offset: number, length: number, field: string, entry: string): number {
  if (((block[offset] as number) & 0x80) !== 0) {
    // GNU base-256: only used for sizes and ids beyond what octal holds, never for a bundle.
    throw new StationError('STN_E_BUNDLE_TOO_LARGE', `archive entry "${entry}": ${field} uses the base-256 form (over 8 GiB)`, { entry });
  }
  const text = readString(block, offset, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) {
    throw new StationError('STN_E_BUNDLE_CORRUPT', `archive entry "${entry}": ${field} "${text}" is not an octal number`, { entry });
  }
  return parseInt(text, 8);
}

const KINDS: Record<string, EntryKind> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file: a regular file on every system that matters
  '5': 'directory',
  '2': 'symlink',
  '1': 'hardlink',
  '3': 'char-device',
  '4': 'block-device',
  '6': 'fifo',
};

/**
 * Reads a whole (already gunzipped) tar. Header checksums are verified; an archive that stops before its end
 * blocks, or inside an entry, is STN_E_BUNDLE_TRUNCATED. `onEntry` sees each entry before the next is read, so a
 * caller can refuse early.
 */
export function readTar(buf: Uint8Array, onEntry: (e: TarEntry) => void): void {
  let off = 0;
  let last = '(start of archive)';
  for (;;) {
    if (off + BLOCK > buf.length) {
      throw new StationError('STN_E_BUNDLE_TRUNCATED', `archive is truncated: it ends after "${last}" without the end-of-archive blocks`, {
        entry: last,
      });
    }
    const block = buf.subarray(off, off + BLOCK);
    if (block.every((b) => b === 0)) {
      // End of archive (the second zero block is optional in practice). Tars pad what follows with zeros; anything
      // else is content that some readers would show and others not, so it is refused rather than ignored.
      const rest = buf.subarray(off + BLOCK);
      const junk = rest.findIndex((b) => b !== 0);
      if (junk !== -1) {
        throw new StationError(
          'STN_E_BUNDLE_CORRUPT',
          `archive has data after its end-of-archive marker (at offset ${off + BLOCK + junk}, after "${last}"): hidden entries or garbage`,
          { entry: last, offset: off + BLOCK + junk },
        );
      }
      return;
    }
    const name = readString(block, 0, 100);
    const magic = readString(block, 257, 6);
    // POSIX ustar ("ustar\0") has a path prefix field; old GNU tar ("ustar  ") keeps other data there.
    const prefix = magic === 'ustar' ? readString(block, 345, 155) : '';
    const entryPath = prefix ? `${prefix}/${name}` : name;
    const stored = readOctal(block, 148, 8, 'checksum', entryPath);
    if (stored !== checksum(block)) {
      throw new StationError('STN_E_BUNDLE_CORRUPT', `archive header of "${entryPath}" (offset ${off}) has a bad checksum: not a tar archive, or damaged`, {
        entry: entryPath,
        offset: off,
      });
    }
    const typeflag = String.fromCharCode(block[156] as number);
    const size = readOctal(block, 124, 12, 'size', entryPath);
    const mode = readOctal(block, 100, 8, 'mode', entryPath);
    const kind = KINDS[typeflag] ?? 'unsupported';
    const start = off + BLOCK;
    // Links, devices and folders carry no data even if a (malicious) header claims a size.
    const dataSize = kind === 'file' || kind === 'unsupported' ? size : 0;
    if (start + dataSize > buf.length) {
      throw new StationError('STN_E_BUNDLE_TRUNCATED', `archive is truncated inside "${entryPath}" (${size} bytes declared, ${buf.length - start} present)`, {
        entry: entryPath,
      });
    }
    onEntry({
      path: entryPath,
      kind,
      typeflag,
      mode,
      linkTarget: readString(block, 157, 100),
      data: kind === 'file' ? buf.subarray(start, start + dataSize) : new Uint8Array(0),
    });
    last = entryPath;
    off = start + Math.ceil(dataSize / BLOCK) * BLOCK;
  }
}
