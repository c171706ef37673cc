/*
 * Just enough of CEL's lexical rules to find where a string literal ends, so that scanners looking for `}}` (templates)
 * or rewriting words (Station conditions) leave the inside of strings alone. Forms: '…', "…", '''…''', """…""",
 * with an optional r/R (raw: backslash does not escape) and/or b/B prefix.
 */

export function isQuote(ch: string | undefined): ch is '"' | "'" {
  return ch === '"' || ch === "'";
}

export function isIdentChar(ch: string | undefined): boolean {
  return ch !== undefined && /[A-Za-z0-9_]/.test(ch);
}

/** Given `s[start]` is a quote, returns the index just after the literal's closing quote, or -1 if unterminated. */
export function skipString(s: string, start: number): number {
  const quote = s[start];
  const triple = s[start + 1] === quote && s[start + 2] === quote;
  const raw = hasRawPrefix(s, start);
  let i = start + (triple ? 3 : 1);
  while (i < s.length) {
    const ch = s[i];
    if (ch === '\\' && !raw) {
      i += 2;
    } else if (ch === quote && (!triple || (s[i + 1] === quote && s[i + 2] === quote))) {
      return i + (triple ? 3 : 1);
    } else {
      i += 1;
    }
  }
  return -1;
}

/** True when the quote at `start` is preceded by a string prefix (`r"`, `rb"`, `BR"`…) that includes r/R. */
function hasRawPrefix(s: string, start: number): boolean {
  let i = start;
  let raw = false;
  while (i > 0 && start - i < 2 && /[rRbB]/.test(s[i - 1] ?? '')) {
    i -= 1;
    if (s[i] === 'r' || s[i] === 'R') raw = true;
  }
  // `ar"x"` is the identifier `ar` followed by a string, not a prefixed string.
  return raw && !isIdentChar(s[i - 1]);
}
