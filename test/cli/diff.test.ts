import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../../src/cli/diff.js';

const workflow = (note: string, version: string, extra = ''): string => `id: hello
version: "${version}"
name: Hello
triggers:
  - type: webhook
    name: hook
states:
  - name: greet
    type: operation
    action: noop
    input:
      note: ${note}
    next: wait
  - name: wait
    type: sleep
    seconds: 5
    next: done
  - name: done
    type: operation
    action: noop
${extra}    end: true
`;

const diff = (a: string, b: string): string[] => unifiedDiff(a, b, 'hello v1', 'hello v2').split('\n');

// Expected outputs were produced by the hand-written LCS diff this module replaced: the format must not move.
describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff(workflow('a', '1'), workflow('a', '1'), 'x', 'y')).toBe('');
  });

  it('prints separate hunks with three lines of context', () => {
    expect(diff(workflow('first', '1.0'), workflow('second', '1.1'))).toEqual([
      '--- hello v1', '+++ hello v2',
      '@@ -1,5 +1,5 @@', ' id: hello', '-version: "1.0"', '+version: "1.1"', ' name: Hello', ' triggers:', '   - type: webhook',
      '@@ -9,7 +9,7 @@', '     type: operation', '     action: noop', '     input:', '-      note: first', '+      note: second',
      '     next: wait', '   - name: wait', '     type: sleep',
      '',
    ]);
  });

  it('counts the final empty line of a text ending in a newline', () => {
    expect(diff(workflow('first', '1.0'), workflow('first', '1.0', '    resultPath: $.done\n'))).toEqual([
      '--- hello v1', '+++ hello v2',
      '@@ -18,5 +18,6 @@', '   - name: done', '     type: operation', '     action: noop', '+    resultPath: $.done', '     end: true', ' ',
      '',
    ]);
    expect(diff('a\nb', 'a\nb\n')).toEqual(['--- hello v1', '+++ hello v2', '@@ -1,2 +1,3 @@', ' a', ' b', '+', '']);
  });

  it('diffs against an empty text', () => {
    expect(diff('', 'a\nb\n')).toEqual(['--- hello v1', '+++ hello v2', '@@ -1,1 +1,3 @@', '+a', '+b', ' ', '']);
    expect(diff('a\nb\n', '')).toEqual(['--- hello v1', '+++ hello v2', '@@ -1,3 +1,1 @@', '-a', '-b', ' ', '']);
  });

  it('joins changes up to six lines apart into one hunk, and splits them past that', () => {
    const lines = (first: string, last: string, between: number) => [first, ...Array.from({ length: between }, (_, i) => String(i + 1)), last, ''].join('\n');
    expect(diff(lines('x', 'y', 6), lines('X', 'Y', 6))).toEqual([
      '--- hello v1', '+++ hello v2', '@@ -1,9 +1,9 @@', '-x', '+X', ' 1', ' 2', ' 3', ' 4', ' 5', ' 6', '-y', '+Y', ' ', '',
    ]);
    expect(diff(lines('x', 'y', 9), lines('X', 'Y', 9))).toEqual([
      '--- hello v1', '+++ hello v2', '@@ -1,4 +1,4 @@', '-x', '+X', ' 1', ' 2', ' 3', '@@ -8,5 +8,5 @@', ' 7', ' 8', ' 9', '-y', '+Y', ' ', '',
    ]);
  });

  it('reproduces both texts from its lines (whole-file hunk), whatever the edits', () => {
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.floor((seed / 2147483648) * n);
    };
    const words = ['a', 'b', 'c', 'id: x', '  - name: y', '', ' '];
    for (let t = 0; t < 500; t++) {
      const a = Array.from({ length: rnd(30) }, () => words[rnd(words.length)] ?? '');
      const b = a.filter(() => rnd(5) > 0).flatMap((l) => (rnd(4) === 0 ? [l, words[rnd(words.length)] ?? '', `u${t}`] : [l]));
      const lines = unifiedDiff(a.join('\n'), b.join('\n'), 'a', 'b', 1e9).split('\n').slice(3, -1);
      if (a.join('\n') === b.join('\n')) continue;
      expect(lines.filter((l) => l[0] !== '+').map((l) => l.slice(1))).toEqual(a.join('\n').split('\n'));
      expect(lines.filter((l) => l[0] !== '-').map((l) => l.slice(1))).toEqual(b.join('\n').split('\n'));
    }
  });
});
