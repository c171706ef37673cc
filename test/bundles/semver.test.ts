import { describe, expect, it } from 'vitest';
import semver from 'semver';

// The range grammar bundles rely on (template.json `station`, install's upgrade/downgrade): npm's, from the semver
// package, called as src/bundles/manifest.ts and install.ts call it.
const { compare, satisfies, valid, validRange } = semver;

describe('semver', () => {
  it('orders versions as semver.org says, pre-releases before their release', () => {
    const sorted = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '2.0.0'];
    const shuffled = [...sorted].reverse();
    expect(shuffled.sort((a, b) => compare(a, b))).toEqual(sorted);
    expect(compare('1.0.0+build.1', '1.0.0+build.2')).toBe(0);
    expect(valid('1.2')).toBeNull();
    expect(valid('01.2.3')).toBeNull();
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
      for (const x of yes) expect(satisfies(x, range), `${x} in ${range}`).toBe(true);
      for (const x of no) expect(satisfies(x, range), `${x} not in ${range}`).toBe(false);
    });
  }

  it('refuses ranges that do not parse', () => {
    for (const bad of ['>=abc', '1.2.3.4', '^^1', 'latest']) expect(validRange(bad), bad).toBeNull();
  });
});
