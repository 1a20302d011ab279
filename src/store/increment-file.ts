import { constants } from 'node:buffer';
import type { Fs } from '../io/fs.js';
import { linePieces } from '../io/line-pieces.js';
import { parseIncrementPieces, type IncrementText, type ParseResult, type PathFilter, type RecordsAs } from '../meta/increment.js';

/**
 * How much of an increment.json is decoded at a time: 1 MiB, as the journal is read. W1's search
 * over 100 increments read the same in 1 MiB pieces as whole (bench/HISTORY.md "What changed in
 * session 35").
 */
const PIECE = 1 << 20;

/**
 * An increment.json read a piece at a time (parseIncrementPieces): it is never one string, whatever
 * its size, unless it is not laid out as hardback writes it. A failure to open or read it is thrown
 * (ENOENT, EACCES, EISDIR, EIO).
 */
export function readIncrementFile(fs: Fs, file: string, expectedId: string | undefined, want: PathFilter, opts: { recordText: true }): ParseResult<IncrementText>;
export function readIncrementFile(fs: Fs, file: string, expectedId: string | undefined, want: PathFilter, opts?: { recordText?: false }): ParseResult;
export function readIncrementFile(fs: Fs, file: string, expectedId: string | undefined, want: PathFilter, opts: RecordsAs = {}): ParseResult | ParseResult<IncrementText> {
  const fd = fs.openSync(file, 'r');
  try {
    const read = (buf: Buffer, at: number, length: number, position: number): number => fs.readSync(fd, buf, at, length, position);
    const whole = (): Buffer | undefined => {
      if (fs.fstatSync(fd).size > constants.MAX_STRING_LENGTH) return undefined;
      try {
        // From the descriptor's position, still 0: the pieces were read at positions given.
        return fs.readFileSync(fd);
      } catch (err) {
        if (err instanceof RangeError) return undefined; // no memory for a buffer that large
        throw err;
      }
    };
    const pieces = linePieces(read, PIECE);
    return opts.recordText === true ? parseIncrementPieces(pieces, whole, expectedId, want, { recordText: true }) : parseIncrementPieces(pieces, whole, expectedId, want);
  } finally {
    fs.closeSync(fd);
  }
}
