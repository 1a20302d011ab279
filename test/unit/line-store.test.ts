import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineStore } from '../../src/store/line-store.js';

/**
 * A first run keeps its manifest lines in a LineStore (1 MiB chunks outside the heap) and writes the
 * manifest from its chunks as they are: every line must come back whole and in order, whichever
 * chunk it landed in, and every chunk must end on a line end (a piece of the manifest file).
 */

const MIB = 1 << 20;

/** Lines of varied lengths (0 to ~600 bytes), ASCII as `encode` makes them, each one different. */
function lineOf(i: number): string {
  const filler = String.fromCharCode(32 + (i % 95)).repeat((i * 37) % 600);
  return `"p/${i}"\tf:1:${i}\t${filler.replace(/\n/g, ' ')}`;
}

test('lines across chunk boundaries (over 2 MiB, one line longer than a chunk) come back whole and in order', { timeout: 20_000 }, () => {
  const store = new LineStore();
  const lines: string[] = [];
  const push = (line: string) => {
    lines.push(line);
    store.push(line);
  };
  let bytes = 0;
  let short = 0;
  for (let i = 0; short < 2.5 * MIB; i++) {
    const line = lineOf(i);
    push(line);
    bytes += line.length + 1;
    short += line.length + 1;
    // Longer than a chunk, in the middle of the run, after a chunk already holds lines.
    if (i === 3000) {
      const long = `"long"\t${'L'.repeat(MIB + 12345)}`;
      push(long);
      bytes += long.length + 1;
    }
  }
  // An empty line (the store does not care what a line holds, only that it has no newline).
  push('');
  push('"last"');

  assert.equal(store.count, lines.length);

  const chunks = [...store.chunks()];
  assert.ok(chunks.length >= 4, `${chunks.length} chunks: the text spans several, and the long line has its own`);
  for (const [k, c] of chunks.entries()) {
    assert.ok(c.length > 0, `chunk ${k} is empty`);
    assert.equal(c[c.length - 1], 10, `chunk ${k} ends on a newline`);
    assert.ok(c.length <= MIB || c.includes('L'.repeat(MIB).slice(0, 64)), `chunk ${k} is larger than a chunk without holding the long line`);
  }
  const text = Buffer.concat(chunks);
  assert.equal(text.length, bytes + 1 + '"last"'.length + 1);
  assert.ok(text.equals(Buffer.from(`${lines.join('\n')}\n`, 'latin1')), 'the chunks are the lines, each with its newline');
  // The chunks first: lines() relies on each ending with a newline.
  const back = [...store.lines()];
  assert.equal(back.length, lines.length);
  for (let i = 0; i < lines.length; i++) if (back[i] !== lines[i]) assert.fail(`line ${i} differs: ${JSON.stringify(back[i]?.slice(0, 60))} != ${JSON.stringify(lines[i]?.slice(0, 60))}`);
  // Read again: chunks() and lines() may be walked more than once (the manifest, then increment.json).
  assert.equal([...store.lines()].length, lines.length);
  assert.ok(Buffer.concat([...store.chunks()]).equals(text));
});

test('a line exactly filling the rest of a chunk, then the next one in a new chunk', { timeout: 20_000 }, () => {
  const store = new LineStore();
  const first = 'a'.repeat(MIB - 11);
  const exact = 'b'.repeat(9); // with its newline: the last 10 bytes of the first chunk
  store.push(first);
  store.push(exact);
  store.push('c');
  const chunks = [...store.chunks()];
  assert.deepEqual(chunks.map((c) => c.length), [MIB, 2]);
  assert.ok(chunks.every((c) => c[c.length - 1] === 10));
  assert.deepEqual([...store.lines()], [first, exact, 'c']);
});

test('an empty store has no chunk and no line', () => {
  const store = new LineStore();
  assert.equal(store.count, 0);
  assert.deepEqual([...store.chunks()], []);
  assert.deepEqual([...store.lines()], []);
});
