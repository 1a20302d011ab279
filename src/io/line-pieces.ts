import type { Fs } from './fs.js';

/**
 * No line hardback writes is this long (a record's path and target are at most a few KiB; a prune
 * plan's group line names its increments): a line of this many bytes or more ends a reading.
 */
export const LONGEST_LINE = 16 << 20;

/** Where a reading starts and ends in the file, and the longest line it takes. */
export interface LineRange {
  /** The byte to start at (0). */
  from?: number;
  /** The byte to stop before (the file's end). */
  to?: number;
  /** A line of this many bytes or more ends the reading (LONGEST_LINE). */
  longest?: number;
}

/**
 * A file's bytes as `read` (fs.readSync's arguments) gives them, in pieces of whole lines: each
 * ends at a newline (the last piece: where the reading ends) and holds about `size` bytes, or one
 * line when a line is longer (the buffer grows to hold it, and stays grown). Undefined, and nothing
 * more, for a line of `range.longest` bytes or more. Each piece is a view of one buffer, read into
 * again once the next piece is asked for.
 */
export function* linePieces(read: (buf: Buffer, at: number, length: number, position: number) => number, size: number, range: LineRange = {}): Generator<Buffer | undefined> {
  const { from = 0, to = Infinity, longest = LONGEST_LINE } = range;
  let buf = Buffer.allocUnsafe(Math.max(1, Math.min(size, longest, to - from)));
  let kept = 0; // the start of a line, carried from the last read
  let position = from;
  for (;;) {
    if (kept === buf.length) {
      if (buf.length >= longest) {
        yield undefined;
        return;
      }
      const grown = Buffer.allocUnsafe(Math.min(longest, buf.length * 2));
      buf.copy(grown, 0, 0, kept);
      buf = grown;
    }
    const length = Math.min(buf.length - kept, to - position);
    // The end of the range, or of the file (one shorter than it was: what is gone is not read).
    const n = length > 0 ? read(buf, kept, length, position) : 0;
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
 * The lines of `pieces` (linePieces), each without its newline, as UTF-8 text; undefined, and
 * nothing more, where the pieces end with undefined. A last line without its newline is given as a
 * line, or with `torn` as undefined (a line a crash cut short: never trusted).
 */
export function* piecesLines(pieces: Iterable<Buffer | undefined>, torn = false): Generator<string | undefined> {
  for (const piece of pieces) {
    if (piece === undefined) {
      yield undefined;
      return;
    }
    const whole = piece[piece.length - 1] === 10;
    const end = whole ? piece.length - 1 : piece.length;
    let start = 0;
    for (let nl = piece.indexOf(10, start); nl >= 0 && nl < end; nl = piece.indexOf(10, start)) {
      yield piece.toString('utf8', start, nl);
      start = nl + 1;
    }
    yield whole || !torn ? piece.toString('utf8', start, end) : undefined;
  }
}

/**
 * The lines of the open file `fd`, each without its newline, as UTF-8 text, read `size` bytes at a
 * time; undefined, and nothing more, for a line of LONGEST_LINE bytes or more.
 */
export function fileLines(fs: Fs, fd: number, size = 1 << 20): Generator<string | undefined> {
  return piecesLines(linePieces((buf, at, length, position) => fs.readSync(fd, buf, at, length, position), size));
}
