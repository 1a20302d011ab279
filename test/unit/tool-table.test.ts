import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { table } from '../../src/cli/tool/output.js';
import { makeRng } from '../helpers/model.js';

// table() is written cell by cell for speed (a search makes one per path found); its text is that of
// the plain rule: each column as wide as its widest cell, two spaces between columns, numbers
// (`right`) aligned right, the last column and each line's end unpadded.

// The code table() had before (session 25), word for word.
function reference(rows: readonly (readonly string[])[], right: readonly number[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 && !right.includes(i) ? c : right.includes(i) ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  '))
    .map((line) => `${line.trimEnd()}\n`)
    .join('');
}

describe('table', () => {
  it('aligns columns, numbers to the right', () => {
    const rows = [
      ['', 'new', '12 B', 'increment'],
      ['', 'changed', '1.5 KiB', 'mirror'],
    ];
    assert.equal(table(rows, [2]), '  new         12 B  increment\n  changed  1.5 KiB  mirror\n');
    assert.equal(table([]), '');
    assert.equal(table([['a', ''], ['bbb', 'c']]), 'a\nbbb  c\n');
  });

  it('gives the plain rule\'s text for random rows of uneven lengths', () => {
    const rng = makeRng(26);
    const cell = () => ' abcé'.slice(0, Math.floor(rng() * 5)).repeat(Math.floor(rng() * 3));
    for (let i = 0; i < 2000; i++) {
      const rows = Array.from({ length: Math.floor(rng() * 4) }, () => Array.from({ length: 1 + Math.floor(rng() * 5) }, cell));
      const right = [0, 1, 2, 3, 4].filter(() => rng() < 0.3);
      assert.equal(table(rows, right), reference(rows, right), JSON.stringify({ rows, right }));
    }
  });
});
