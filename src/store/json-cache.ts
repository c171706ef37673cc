/**
 * Parsed JSON of large columns that rarely change (a run's input, a foreach step's item list), kept across
 * transactions: each transaction reads its rows afresh, and parsing a 20,000-item list again in every one of the
 * transactions a long foreach takes made it quadratic. A hit needs the stored text to be equal to the cached one, so a
 * value changed by another process is parsed again. Callers must not modify the values they get.
 */
export class JsonCache {
  private readonly entries = new Map<string, { text: string; value: unknown }>();
  private chars = 0;

  constructor(
    /** Texts shorter than this are parsed every time (cheaper than keeping them). */
    private readonly minChars = 4096,
    /** The most text kept, in characters; the oldest entries go first. */
    private readonly maxChars = 32 * 1024 * 1024,
  ) {}

  parse(key: string, text: string): unknown {
    if (text.length < this.minChars) return JSON.parse(text) as unknown;
    const hit = this.entries.get(key);
    if (hit?.text === text) return hit.value;
    const value = JSON.parse(text) as unknown;
    if (hit) this.drop(key, hit.text);
    if (text.length <= this.maxChars) {
      while (this.chars + text.length > this.maxChars) {
        const oldest = this.entries.entries().next().value;
        if (!oldest) break;
        this.drop(oldest[0], oldest[1].text);
      }
      this.entries.set(key, { text, value });
      this.chars += text.length;
    }
    return value;
  }

  private drop(key: string, text: string): void {
    this.entries.delete(key);
    this.chars -= text.length;
  }
}
