/** Bytes per chunk of a LineStore: one allocation of its own each, outside the JavaScript heap. */
const CHUNK = 1 << 20;

/**
 * Lines of ASCII text (manifest lines: store/state-table.ts `encode`) kept outside the JavaScript
 * heap, one after the other in 1 MiB chunks. A string of the same line costs a V8 object, the heap's
 * growth margin and the collector's time; here a line costs its bytes and its newline.
 */
export class LineStore {
  private readonly full: Buffer[] = [];
  private chunk: Buffer | undefined;
  private pos = 0;
  /** Lines pushed. */
  count = 0;

  /** Appends `line`: ASCII without a newline, as `encode` makes every manifest line (asciiJson escapes the rest). */
  push(line: string): void {
    const need = line.length + 1;
    if (this.chunk === undefined || this.pos + need > this.chunk.length) {
      if (this.chunk !== undefined) this.full.push(this.chunk.subarray(0, this.pos));
      this.chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK, need));
      this.pos = 0;
    }
    this.pos += this.chunk.write(line, this.pos, 'latin1');
    this.chunk[this.pos++] = 10;
    this.count++;
  }

  /** The text so far, in pieces that each end with a whole line. */
  *chunks(): Generator<Buffer> {
    yield* this.full;
    if (this.chunk !== undefined && this.pos > 0) yield this.chunk.subarray(0, this.pos);
  }

  /** The lines, in the order they were pushed (without their newline). */
  *lines(): Generator<string> {
    for (const chunk of this.chunks()) {
      const text = chunk.toString('latin1');
      for (let start = 0; start < text.length; ) {
        const end = text.indexOf('\n', start);
        yield text.slice(start, end);
        start = end + 1;
      }
    }
  }
}
