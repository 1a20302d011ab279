import type { Fs } from './fs.js';

/**
 * No line hardback writes is this long (a record's path and target are at most a few KiB; a prune
 * plan's group line names its increments): a line of this many bytes or more ends a reading.
 */
export const LONGEST_LINE = 16 << 20;

/**
 * A file's bytes as `read` (fs.readSync's arguments) gives them, in pieces of whole lines: each
 * ends at a newline (the last piece: where the file ends) and holds about `size` bytes, or one line
 * when a line is longer (the buffer grows to hold it, and stays grown). Undefined, and nothing more,
 * for a line of LONGEST_LINE bytes or more. Each piece is a view of one buffer, read into again
 * once the next piece is asked for.
 */
export function* linePieces(read: (buf: Buffer, at: number, length: number, position: number) => number, size: number): Generator<Buffer | undefined> {
  let buf = Buffer.allocUnsafe(Math.min(LONGEST_LINE, Math.max(1, size)));
  let kept = 0; // the start of a line, carried from the last read
  let position = 0;
  for (;;) {
    if (kept === buf.length) {
      if (buf.length >= LONGEST_LINE) {
        yield undefined;
        return;
      }
      const grown = Buffer.allocUnsafe(Math.min(LONGEST_LINE, buf.length * 2));
      buf.copy(grown, 0, 0, kept);
      buf = grown;
    }
    const n = read(buf, kept, buf.length - kept, position);
    if (n === 0) {
      if (kept > 0) yield buf.subarray(0, kept);
      return;
    }
    position += n;
    const end = kept + n;
    const nl = buf.lastIndexOf(10, end - 1);
    if (nl < kept) {
      kept = end;
      continue;
    }
    yield buf.subarray(0, nl + 1);
    buf.copy(buf, 0, nl + 1, end);
    kept = end - nl - 1;
  }
}

/**
 * The lines of the open file `fd`, each without its newline, as UTF-8 text, read `size` bytes at a
 * time; undefined, and nothing more, for a line of LONGEST_LINE bytes or more.
 */
export function* fileLines(fs: Fs, fd: number, size = 1 << 20): Generator<string | undefined> {
  for (const piece of linePieces((buf, at, length, position) => fs.readSync(fd, buf, at, length, position), size)) {
    if (piece === undefined) {
      yield undefined;
      return;
    }
    const end = piece[piece.length - 1] === 10 ? piece.length - 1 : piece.length;
    let start = 0;
    for (let nl = piece.indexOf(10, start); nl >= 0 && nl < end; nl = piece.indexOf(10, start)) {
      yield piece.toString('utf8', start, nl);
      start = nl + 1;
    }
    yield piece.toString('utf8', start, end);
  }
}
