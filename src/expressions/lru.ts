/**
 * Compiled expressions by source text, least recently used dropped first: a daemon sees the same few expressions
 * over and over, and a definition that changes every few minutes must not make the cache grow without bound.
 */
export class SourceCache<T> {
  private readonly entries = new Map<string, T>();

  constructor(private readonly limit: number) {}

  get(source: string, compile: (source: string) => T): T {
    const hit = this.entries.get(source);
    if (hit !== undefined) {
      this.entries.delete(source); // re-insert: Map order is the recency order
      this.entries.set(source, hit);
      return hit;
    }
    const value = compile(source);
    if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(source, value);
    return value;
  }
}
