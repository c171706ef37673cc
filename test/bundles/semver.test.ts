import { describe, expect, it } from 'vitest';
import { compareVersions, parseRange, parseVersion, satisfies, type SemVer } from '../../src/bundles/semver.js';

const v = (text: string): SemVer => {
  const parsed = parseVersion(text);
  if (!parsed) throw new Error(`not a version: ${text}`);
  return parsed;
};

describe('semver', () => {
  it('orders versions as semver.org says, pre-releases before their release', () => {
    const sorted = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '2.0.0'];
    const shuffled = [...sorted].reverse();
    expect(shuffled.sort((a, b) => compareVersions(v(a), v(b)))).toEqual(sorted);
    expect(compareVersions(v('1.0.0+build.1'), v('1.0.0+build.2'))).toBe(0);
    expect(parseVersion('1.2')).toBeUndefined();
    expect(parseVersion('01.2.3')).toBeUndefined();
  });

  const cases: Array<[string, string[], string[]]> = [
    ['>=0.1.0', ['0.1.0', '0.2.0', '5.0.0'], ['0.0.9', '0.1.0-rc.1']],
    ['>=0.1.0 <1.0.0', ['0.1.0', '0.9.9'], ['1.0.0', '0.0.1', '1.0.0-rc.1']],
    ['^0.1', ['0.1.0', '0.1.9'], ['0.2.0', '0.0.9']],
    ['^1.2.3', ['1.2.3', '1.9.0'], ['2.0.0', '1.2.2', '2.0.0-rc.1']],
    ['^0.0.3', ['0.0.3'], ['0.0.4']],
    ['~1.2.3', ['1.2.3', '1.2.9'], ['1.3.0']],
    ['~1', ['1.0.0', '1.9.9'], ['2.0.0']],
    ['1.x', ['1.0.0', '1.5.2'], ['2.0.0', '0.9.0']],
    ['1.2', ['1.2.0', '1.2.7'], ['1.3.0']],
    ['*', ['0.0.1', '9.9.9'], ['1.0.0-rc.1']],
    ['1.0.0 - 1.4.0', ['1.0.0', '1.4.0'], ['1.4.1']],
    ['<1.0.0 || >=2.0.0', ['0.5.0', '2.1.0'], ['1.5.0']],
    ['>= 0.1.0', ['0.1.0'], ['0.0.1']],
    ['>1.2', ['1.3.0'], ['1.2.9']],
    ['<=1.2', ['1.2.9'], ['1.3.0']],
    ['>=2.0.0-rc.1', ['2.0.0-rc.2', '2.0.0'], ['2.0.0-beta', '3.0.0-rc.1']],
    ['=1.2.3', ['1.2.3'], ['1.2.4']],
  ];
  for (const [range, yes, no] of cases) {
    it(`"${range}"`, () => {
      for (const x of yes) expect(satisfies(v(x), range), `${x} in ${range}`).toBe(true);
      for (const x of no) expect(satisfies(v(x), range), `${x} not in ${range}`).toBe(false);
    });
  }

  it('refuses ranges that do not parse', () => {
    for (const bad of ['>=abc', '1.2.3.4', '^^1', 'latest']) expect(parseRange(bad), bad).toBeUndefined();
  });
});
