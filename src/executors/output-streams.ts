/** Reading a step process's output as it arrives: `::add-mask::` lines (shell.exec) and the tail kept of each stream. */

/** A stdout line that marks a value as secret for the rest of the run (as GitHub Actions' workflow command). */
const ADD_MASK = '::add-mask::';
/** Longest stdout line looked at for ::add-mask:: (longer lines are passed over). */
const ADD_MASK_LINE_LIMIT = 64 * 1024;

/** Finds `::add-mask::<value>` lines in a byte stream, whatever the chunking. */
export class LineScanner {
  private partial = '';
  private skipping = false;
  private readonly decoder = new TextDecoder('utf-8');

  constructor(private readonly onMask: (value: string) => void) {}

  push(chunk: Buffer): void {
    const text = this.partial + this.decoder.decode(chunk, { stream: true });
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      if (this.skipping) this.skipping = false;
      else this.line(line);
    }
    if (this.partial.length > ADD_MASK_LINE_LIMIT) {
      // A line this long is output, not a command: drop it up to its end.
      this.partial = '';
      this.skipping = true;
    }
  }

  end(): void {
    const rest = this.partial + this.decoder.decode();
    this.partial = '';
    if (!this.skipping) this.line(rest);
  }

  private line(raw: string): void {
    if (!raw.startsWith(ADD_MASK)) return;
    const value = raw.slice(ADD_MASK.length).replace(/\r$/, '').trim();
    if (value !== '') this.onMask(value);
  }
}

/** Keeps the last `limit` bytes of a stream; memory stays within about `limit` plus one chunk. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    let first = this.chunks[0];
    while (first !== undefined && this.chunks.length > 1 && this.size - first.length >= this.limit) {
      this.chunks.shift();
      this.size -= first.length;
      this.truncated = true;
      first = this.chunks[0];
    }
  }

  /** The kept bytes as UTF-8, starting at a character boundary when the front was cut. */
  text(): string {
    let bytes = Buffer.concat(this.chunks);
    if (bytes.length > this.limit) {
      bytes = bytes.subarray(bytes.length - this.limit);
      this.truncated = true;
    }
    if (this.truncated) {
      let start = 0;
      // Skip UTF-8 continuation bytes (10xxxxxx) left over from a character cut in two.
      while (start < bytes.length && start < 4 && ((bytes[start] ?? 0) & 0xc0) === 0x80) start += 1;
      bytes = bytes.subarray(start);
    }
    return bytes.toString('utf8');
  }
}
