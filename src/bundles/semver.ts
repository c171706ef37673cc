/**
 * The part of semantic versioning (semver.org) that bundles need: parse and compare versions, and test a version
 * against a range such as ">=0.1.0 <1.0.0", "^0.1", "~1.2.3", "1.x", "1.0.0 - 1.4.0" or ">=1 || 0.9.x". Written here
 * rather than taken from node_modules because no semver package is a direct dependency of Station.
 */

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  prerelease: string[];
}

const VERSION =
  /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$/;

/** Parses a full version ("1.2.3", "2.0.0-rc.1+build"); undefined when it is not one. */
export function parseVersion(text: string): SemVer | undefined {
  const m = VERSION.exec(text.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), prerelease: m[4] ? m[4].split('.') : [] };
}

/** Negative when a < b, 0 when equal (build metadata ignored), positive when a > b. */
export function compareVersions(a: SemVer, b: SemVer): number {
  const core = a.major - b.major || a.minor - b.minor || a.patch - b.patch;
  if (core !== 0) return Math.sign(core);
  // A pre-release sorts before its release.
  if (a.prerelease.length === 0 || b.prerelease.length === 0) return Math.sign(b.prerelease.length - a.prerelease.length);
  for (let i = 0; i < Math.max(a.prerelease.length, b.prerelease.length); i++) {
    const x = a.prerelease[i];
    const y = b.prerelease[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    if (x === y) continue;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn) return Math.sign(Number(x) - Number(y));
    if (xn !== yn) return xn ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return 0;
}

type Op = '<' | '<=' | '>' | '>=' | '=';
interface Comparator {
  op: Op;
  v: SemVer;
}

/** A possibly partial version: "1", "1.2", "1.x", "*". Missing parts are undefined. */
interface Partial {
  major: number | undefined;
  minor: number | undefined;
  patch: number | undefined;
  prerelease: string[];
}

function parsePartial(text: string): Partial | undefined {
  if (text === '' || text === '*' || text.toLowerCase() === 'x') return { major: undefined, minor: undefined, patch: undefined, prerelease: [] };
  const full = parseVersion(text);
  if (full) return full;
  const m = /^v?(\d+|[xX*])(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?$/.exec(text);
  if (!m) return undefined;
  const part = (s: string | undefined) => (s === undefined || /^[xX*]$/.test(s) ? undefined : Number(s));
  const major = part(m[1]);
  const minor = major === undefined ? undefined : part(m[2]);
  const patch = minor === undefined ? undefined : part(m[3]);
  return { major, minor, patch, prerelease: [] };
}

const v = (major: number, minor: number, patch: number, prerelease: string[] = []): SemVer => ({ major, minor, patch, prerelease });
/** The smallest version above every release of the range's upper bound (pre-releases of it excluded). */
const below = (x: SemVer): Comparator => ({ op: '<', v: { ...x, prerelease: ['0'] } });

/** Expands one range token ("^1.2", ">=1.0.0", "1.x") into plain comparators. */
function expand(token: string): Comparator[] | undefined {
  const m = /^(\^|~>?|>=|<=|>|<|=)?\s*(.*)$/.exec(token);
  if (!m) return undefined;
  const op = m[1] ?? '';
  const p = parsePartial(m[2] ?? '');
  if (!p) return undefined;
  const { major, minor, patch } = p;
  const lo = v(major ?? 0, minor ?? 0, patch ?? 0, p.prerelease);
  if (op === '' || op === '=') {
    if (major === undefined) return [];
    if (minor === undefined) return [{ op: '>=', v: lo }, below(v(major + 1, 0, 0))];
    if (patch === undefined) return [{ op: '>=', v: lo }, below(v(major, minor + 1, 0))];
    return [{ op: '=', v: lo }];
  }
  if (op === '^') {
    if (major === undefined) return [];
    const hi = major > 0 || minor === undefined ? v(major + 1, 0, 0) : minor > 0 || patch === undefined ? v(0, minor + 1, 0) : v(0, 0, patch + 1);
    return [{ op: '>=', v: lo }, below(hi)];
  }
  if (op === '~' || op === '~>') {
    if (major === undefined) return [];
    const hi = minor === undefined ? v(major + 1, 0, 0) : v(major, minor + 1, 0);
    return [{ op: '>=', v: lo }, below(hi)];
  }
  if (major === undefined) return op === '<' || op === '>' ? [{ op: '<', v: v(0, 0, 0, ['0']) }] : [];
  if (op === '>') {
    if (minor === undefined) return [{ op: '>=', v: v(major + 1, 0, 0) }];
    if (patch === undefined) return [{ op: '>=', v: v(major, minor + 1, 0) }];
    return [{ op: '>', v: lo }];
  }
  if (op === '<=') {
    if (minor === undefined) return [below(v(major + 1, 0, 0))];
    if (patch === undefined) return [below(v(major, minor + 1, 0))];
    return [{ op: '<=', v: lo }];
  }
  if (op === '<') return [{ op: '<', v: patch === undefined ? { ...lo, prerelease: ['0'] } : lo }];
  return [{ op: op as Op, v: lo }];
}

/** Parses a range into alternatives (||) of comparator sets; undefined when it does not parse. */
export function parseRange(range: string): Comparator[][] | undefined {
  const alternatives: Comparator[][] = [];
  for (const alt of range.split('||')) {
    let text = alt.trim();
    const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(text);
    if (hyphen) text = `>=${hyphen[1]} <=${hyphen[2]}`;
    // "> = 1.0" and ">= 1.0" both mean ">=1.0".
    const tokens = text.replace(/(\^|~>?|>=|<=|>|<|=)\s+/g, '$1').split(/\s+/).filter(Boolean);
    const set: Comparator[] = [];
    for (const t of tokens) {
      const c = expand(t);
      if (!c) return undefined;
      set.push(...c);
    }
    alternatives.push(set);
  }
  return alternatives;
}

function test(c: Comparator, x: SemVer): boolean {
  const d = compareVersions(x, c.v);
  switch (c.op) {
    case '<':
      return d < 0;
    case '<=':
      return d <= 0;
    case '>':
      return d > 0;
    case '>=':
      return d >= 0;
    case '=':
      return d === 0;
    default: {
      const never: never = c.op;
      return never;
    }
  }
}

/**
 * Whether `version` is in `range`. As in npm, a pre-release version only satisfies a comparator set that names a
 * pre-release of the same major.minor.patch.
 */
export function satisfies(version: SemVer, range: string): boolean {
  const alternatives = parseRange(range);
  if (!alternatives) return false;
  return alternatives.some((set) => {
    if (!set.every((c) => test(c, version))) return false;
    if (version.prerelease.length === 0) return true;
    return set.some(
      (c) =>
        c.v.prerelease.length > 0 &&
        c.v.prerelease[0] !== '0' &&
        c.v.major === version.major &&
        c.v.minor === version.minor &&
        c.v.patch === version.patch,
    );
  });
}

export function formatVersion(x: SemVer): string {
  return `${x.major}.${x.minor}.${x.patch}${x.prerelease.length > 0 ? `-${x.prerelease.join('.')}` : ''}`;
}
