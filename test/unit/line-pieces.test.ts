import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileLines, LONGEST_LINE } from '../../src/io/line-pieces.js';
import { realFs } from '../../src/io/fs.js';
import { makeRng } from '../helpers/model.js';
import { removeDir, tempDir } from '../helpers/tree.js';

/** The lines a text has, as split at each newline (a newline at the end starts no line). */
const linesOf = (text: string): string[] => {
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  return text === '' ? [] : lines;
};

function readLines(file: string, size: number): (string | undefined)[] {
  const fd = fs.openSync(file, 'r');
  try {
    return [...fileLines(realFs, fd, size)];
  } finally {
    fs.closeSync(fd);
  }
}

test('fileLines gives each line whole, however the file is cut into pieces', (t) => {
  const dir = tempDir();
  t.after(() => removeDir(dir));
  const file = join(dir, 'lines');
  const rng = makeRng(20261130);
  const words = ['', 'a', 'plain line', 'Ελληνικά', '🎉 emoji', 'x'.repeat(40)];
  for (let round = 0; round < 60; round++) {
    const n = Math.floor(rng() * 8);
    let text = Array.from({ length: n }, () => words[Math.floor(rng() * words.length)] as string).join('\n');
    if (rng() < 0.5 && n > 0) text += '\n';
    fs.writeFileSync(file, text);
    for (const size of [1, 2, 3, 5, 8, 13, 64, 4096]) assert.deepEqual(readLines(file, size), linesOf(text), `${JSON.stringify(text)} in pieces of ${size}`);
  }
});

test('fileLines stops at a line longer than any hardback writes', (t) => {
  const dir = tempDir();
  t.after(() => removeDir(dir));
  const file = join(dir, 'long');
  fs.writeFileSync(file, `first\n${'y'.repeat(LONGEST_LINE + 1)}\nlast\n`);
  assert.deepEqual(readLines(file, 1 << 20), ['first', undefined]);
});

