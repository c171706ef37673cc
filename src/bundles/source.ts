/**
 * Where `stn bundle install` takes a bundle from: a .tar.gz file, a folder, or an https URL pinned by its SHA-256.
 * Each ends as files in memory plus how to check them; nothing is written here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StationError, UsageError } from '../errors.js';
import { DEFAULT_LIMITS, unpackArchive, type ArchiveLimits, type FileMap } from './archive.js';
import { readBundleFolder } from './folder.js';
import type { InspectOptions } from './inspect.js';
import { sha256Hex } from './manifest.js';

export interface SourceOptions {
  /** Expected SHA-256 of the archive (hex); mandatory for URLs, optional for files. */
  sha256?: string | undefined;
  limits?: ArchiveLimits;
  /**
   * Test-only: accept plain http:// URLs whose host is the loopback address (a test server on 127.0.0.1). Never
   * other hosts; https stays mandatory for everything else.
   */
  allowLoopbackHttp?: boolean;
  /** Download timeout. */
  timeoutMs?: number;
}

export interface LoadedSource {
  kind: 'archive' | 'folder' | 'url';
  /** How messages name the source. */
  where: string;
  files: FileMap;
  /** The top folder inside an archive (must equal the bundle name); undefined for folders. */
  root: string | undefined;
  fileList: InspectOptions['fileList'];
  /** SHA-256 of the archive bytes (archives and URLs). */
  sha256: string | undefined;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
/** Redirects followed within the URL's own origin (a mirror's /latest → /v1.2.0, say). */
const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

export function isUrl(source: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(source);
}

function normalizeSha(sha: string | undefined): string | undefined {
  if (sha === undefined) return undefined;
  const hex = sha.trim().toLowerCase().replace(/^sha256:/, '');
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new UsageError(`--sha256 must be 64 hex digits, got "${sha}"`);
  return hex;
}

function checkSha(bytes: Uint8Array, expected: string | undefined, where: string): string {
  const actual = sha256Hex(bytes);
  if (expected !== undefined && actual !== expected) {
    throw new StationError('STN_E_BUNDLE_CHECKSUM', `${where}: SHA-256 is ${actual}, not the expected ${expected} (--sha256); refusing it`, {
      expected,
      actual,
    });
  }
  return actual;
}

/** Loads the bundle a user named on the command line. */
export async function loadSource(source: string, options: SourceOptions = {}): Promise<LoadedSource> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const sha = normalizeSha(options.sha256);
  if (isUrl(source)) {
    if (sha === undefined) throw new UsageError(`installing from a URL needs --sha256 <hex> (the archive's SHA-256, as "stn bundle create" prints it)`);
    const bytes = await download(source, limits.maxArchiveBytes, options);
    const actual = checkSha(bytes, sha, source);
    const { root, files } = unpackArchive(bytes, limits);
    return { kind: 'url', where: source, files, root, fileList: 'required', sha256: actual };
  }
  const abs = path.resolve(source);
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(abs);
  } catch {
    throw new StationError('STN_E_NOT_FOUND', `${source} does not exist`);
  }
  if (stat.isDirectory()) {
    if (sha !== undefined) throw new UsageError('--sha256 checks archives and URLs, not folders');
    return { kind: 'folder', where: source, files: readBundleFolder(abs, limits), root: undefined, fileList: 'if-present', sha256: undefined };
  }
  if (!stat.isFile()) throw new UsageError(`${source} is neither a .tar.gz file nor a folder`);
  if (stat.size > limits.maxArchiveBytes) {
    throw new StationError('STN_E_BUNDLE_TOO_LARGE', `${source} is ${stat.size} bytes, over the ${limits.maxArchiveBytes}-byte limit`, {
      size: stat.size,
      limit: limits.maxArchiveBytes,
    });
  }
  const bytes = fs.readFileSync(abs);
  const actual = checkSha(bytes, sha, source);
  const { root, files } = unpackArchive(bytes, limits);
  return { kind: 'archive', where: source, files, root, fileList: 'required', sha256: actual };
}

/** GETs the URL, counting bytes as they arrive: a body over the limit is abandoned, not buffered. */
async function download(url: string, maxBytes: number, options: SourceOptions): Promise<Buffer> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`"${url}" is not a valid URL`);
  }
  const loopbackHttp = parsed.protocol === 'http:' && options.allowLoopbackHttp === true && LOOPBACK.has(parsed.hostname);
  if (parsed.protocol !== 'https:' && !loopbackHttp) {
    throw new StationError('STN_E_BUNDLE_DOWNLOAD', `${url}: only https:// URLs are accepted`, { url });
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? 60_000);
  try {
    const res = await fetchSameOrigin(parsed, url, controller.signal);
    if (!res.ok) throw new StationError('STN_E_BUNDLE_DOWNLOAD', `${url}: the server answered ${res.status} ${res.statusText}`, { url, status: res.status });
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > maxBytes) {
      throw new StationError('STN_E_BUNDLE_TOO_LARGE', `${url}: ${declared} bytes, over the ${maxBytes}-byte limit`, { url, size: declared, limit: maxBytes });
    }
    const chunks: Buffer[] = [];
    let total = 0;
    if (res.body) {
      for await (const chunk of res.body) {
        total += (chunk as Uint8Array).length;
        if (total > maxBytes) {
          controller.abort();
          throw new StationError('STN_E_BUNDLE_TOO_LARGE', `${url}: more than ${maxBytes} bytes; download stopped`, { url, limit: maxBytes });
        }
        chunks.push(Buffer.from(chunk as Uint8Array));
      }
    }
    return Buffer.concat(chunks);
  } catch (err) {
    if (err instanceof StationError) throw err;
    const why = controller.signal.aborted ? 'timed out' : ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
    throw new StationError('STN_E_BUNDLE_DOWNLOAD', `${url}: download failed: ${why}`, { url });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * GETs `start`, following redirects only within its origin (same scheme, host and port): the SHA-256 pins the bytes,
 * but a redirect to another host or to plain http is where a compromised mirror or a downgrade would take the
 * download, so it is refused (STN_E_BUNDLE_REDIRECT) rather than followed.
 */
async function fetchSameOrigin(start: URL, shown: string, signal: AbortSignal): Promise<Response> {
  let current = start;
  for (let hop = 0; ; hop++) {
    const res = await fetch(current, { signal, redirect: 'manual' });
    const location = res.headers.get('location');
    if (!REDIRECT_STATUSES.has(res.status) || location === null) return res;
    await res.body?.cancel().catch(() => undefined);
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new StationError('STN_E_BUNDLE_REDIRECT', `${shown}: redirected to an invalid URL`, { url: shown });
    }
    if (next.origin !== start.origin) {
      throw new StationError(
        'STN_E_BUNDLE_REDIRECT',
        `${shown}: redirected to ${next.origin}, another ${next.protocol !== start.protocol ? 'scheme' : 'host'}; refused (install from the final URL if you trust it)`,
        { url: shown, location: next.origin },
      );
    }
    if (hop >= MAX_REDIRECTS) throw new StationError('STN_E_BUNDLE_REDIRECT', `${shown}: more than ${MAX_REDIRECTS} redirects`, { url: shown });
    current = next;
  }
}
