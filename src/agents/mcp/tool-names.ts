/**
 * Model-facing tool names. MCP names a tool `server/tool` (a tool's own name may hold `/`, `.` and more), while
 * OpenAI-style function names must match `^[a-zA-Z0-9_-]{1,64}$`. The mapping is a pure function of the set of tools:
 * - `server__tool` when that is already a valid name (the common case: readable, and the same in every step);
 * - otherwise (characters outside the alphabet, longer than 64) the invalid characters become `_`, the text is cut,
 *   and `_` + 8 hex digits of the qualified name's SHA-256 are appended, so two names that read alike stay apart;
 * - two tools of one set that would still get the same name (`a_/b` and `a/_b` both read `a___b`) both take the hash
 *   suffix, a longer one if need be.
 * Because it depends only on the set (not on the order of listing), a resumed agent step that lists the same tools
 * hands out the same names as before.
 */
import { createHash } from 'node:crypto';

export const TOOL_NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
const MAX = 64;
const SEPARATOR = '__';

/** A bijection between `server/tool` names and the model-facing names handed out for them. */
export interface ToolNameMap {
  /** The model-facing name of a qualified name of the set; undefined for a name outside it. */
  toModel(qualified: string): string | undefined;
  /** The qualified name behind a model-facing name handed out; undefined for any other name. */
  fromModel(name: string): string | undefined;
}

/** `server/tool`: the server's name (never holds `/`) and the tool's MCP name. */
export function qualifiedToolName(server: string, tool: string): string {
  return `${server}/${tool}`;
}

/** Splits `server/tool` at its first `/` (server names have none; tool names may). */
export function splitQualifiedName(qualified: string): { server: string; tool: string } | undefined {
  const slash = qualified.indexOf('/');
  if (slash <= 0 || slash === qualified.length - 1) return undefined;
  return { server: qualified.slice(0, slash), tool: qualified.slice(slash + 1) };
}

/** Assigns model-facing names to a set of qualified names (duplicates are ignored). */
export function assignToolNames(qualifiedNames: Iterable<string>): ToolNameMap {
  const unique = [...new Set(qualifiedNames)].sort();
  const byQualified = new Map<string, string>();
  let pending = unique;
  // Round 0: plain names where possible; each later round lengthens the hash of the names that still collide.
  for (let round = 0; pending.length > 0; round++) {
    const proposals = new Map<string, string[]>();
    for (const q of pending) {
      const name = proposeName(q, round);
      const same = proposals.get(name) ?? [];
      same.push(q);
      proposals.set(name, same);
    }
    const taken = new Set(byQualified.values());
    const again: string[] = [];
    for (const [name, owners] of proposals) {
      if (owners.length === 1 && !taken.has(name)) byQualified.set(owners[0] as string, name);
      else again.push(...owners);
    }
    if (again.length === pending.length && round >= 8) throw new Error(`tool names cannot be told apart: ${again.join(', ')}`);
    pending = again;
  }
  const byModel = new Map([...byQualified].map(([q, n]) => [n, q]));
  return {
    toModel: (qualified) => byQualified.get(qualified),
    fromModel: (name) => byModel.get(name),
  };
}

/** The name proposed for `qualified` in a round: the plain name first (when valid), then hash suffixes that grow. */
function proposeName(qualified: string, round: number): string {
  const split = splitQualifiedName(qualified);
  const plain = split ? `${split.server}${SEPARATOR}${split.tool}` : qualified;
  if (round === 0 && TOOL_NAME_PATTERN.test(plain)) return plain;
  const hexDigits = Math.min(8 + 4 * Math.max(0, round - 1), 32);
  const suffix = `_${createHash('sha256').update(qualified).digest('hex').slice(0, hexDigits)}`;
  const readable = plain.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, MAX - suffix.length);
  return `${readable}${suffix}`;
}
