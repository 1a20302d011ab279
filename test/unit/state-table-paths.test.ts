import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { newEntry, type StateEntry } from '../../src/meta/entry.js';
import { asciiJson } from '../../src/meta/ascii-json.js';
import { encode, StateTable } from '../../src/store/state-table.js';
import { readManifest, writeManifest } from '../../src/store/manifest.js';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { realFs } from '../../src/io/fs.js';
import { removeDir, tempDir } from '../helpers/tree.js';

/**
 * The state table finds a path by comparing it with the line's JSON form in place, character by
 * character, without building that form (src/store/state-table.ts isPathAt): this must agree with
 * asciiJson for every UTF-16 unit, whichever way the line came in (stored by a run, read from a
 * manifest, read from a delta).
 */

const file = (path: string, i: number): StateEntry => {
  const e = newEntry(path, 'file', i, `${1764136869123456789n + BigInt(i)}`, 0o644, 0, 0, true, undefined, undefined);
  e.sha256 = (i % 16).toString(16).repeat(64);
  return e;
};

/** Every UTF-16 unit (lone surrogates included), each inside a path of its own, and in a pair. */
function everyUnitPaths(): string[] {
  const paths: string[] = [];
  // (NUL and '/' make no safe path: every other unit.)
  for (let c = 1; c <= 0xffff; c++) if (c !== 0x2f) paths.push(`d/${String.fromCharCode(c)}x`);
  paths.push('d/\u{1F600}.txt', 'd/é/ü', 'd/"q"', 'd/a\\b', 'd/tab\there', 'd/nl\nhere', 'd/\u007f');
  return paths;
}

describe('the state table finds every path by its JSON form', () => {
  it('stored by a run: each of the 65,534 UTF-16 units that can be in a name (and pairs) is found, and no path is found under another', () => {
    const t = new StateTable();
    const paths = everyUnitPaths();
    paths.forEach((p, i) => t.keep(file(p, i)));
    assert.equal(t.size, paths.length);
    paths.forEach((p, i) => {
      assert.equal(t.get(p)?.size, i, `found ${JSON.stringify(p)}`);
      assert.equal(t.encodedLine(p), encode(file(p, i)));
    });
    // Near misses: the escape of one unit is not another unit's.
    for (const p of ['d/\\u0041x', 'd/\\\\x', 'd/x', 'd/\u0000', 'd/\u00e9', 'd/\ud83d', 'd/Axx', 'd/\\"x']) assert.equal(t.has(p), false, JSON.stringify(p));
    assert.deepEqual([...t.keys()], paths, 'keys come back decoded, in order');
  });

  it('read from a manifest and from a delta: the same paths are found, and written back byte for byte', (t) => {
    const root = tempDir();
    t.after(() => removeDir(root));
    const file1 = join(root, 'manifest.jsonl');
    const paths = everyUnitPaths();
    writeManifest(realFs, file1, { source: '/src', lastIncrement: null }, paths.map((p, i) => file(p, i)));
    const read = readManifest(realFs, file1).entries;
    assert.equal(read.size, paths.length);
    paths.forEach((p, i) => assert.equal(read.get(p)?.size, i, `found ${JSON.stringify(p)}`));
    // A delta brings a few of them back changed: found again, through their own lines.
    for (let i = 0; i < paths.length; i += 8192) read.set(paths[i] as string, file(paths[i] as string, i + 1));
    writeManifest(realFs, file1, { source: '/src', lastIncrement: null }, read);
    const again = readManifest(realFs, file1).entries;
    paths.forEach((p, i) => assert.equal(again.get(p)?.size, i % 8192 === 0 ? i + 1 : i, `after the delta: ${JSON.stringify(p)}`));
    // Written whole, what was read gives the same text as the entries encoded one by one.
    const whole = readManifest(realFs, file1).entries;
    assert.equal([...whole.linePieces()].join(''), [...again.values()].map((e) => `${encode(e)}\n`).join(''));
  });

  it('a line whose path is written otherwise is found by its path, and one written with a raw quote or control character is damaged', (t) => {
    const root = tempDir();
    t.after(() => removeDir(root));
    const f = join(root, 'manifest.jsonl');
    const rest = encode(file('x', 1)).slice(encode(file('x', 1)).indexOf('\t'));
    const header = (n: number) => `${JSON.stringify({ hardback: 'manifest', format: 2, id: 'abc', source: '/src', last_increment: null, written: 'now', entries: n })}\n`;
    fs.writeFileSync(f, `${header(3)}"\\u0041b"${rest}\n"a\\/b"${rest}\n"caf\u00e9"${rest}\n`, 'latin1');
    const read = readManifest(realFs, f).entries;
    assert.deepEqual([...read.keys()], ['Ab', 'a/b', 'café']);
    assert.equal(read.encodedLine('Ab')?.startsWith('"Ab"\t'), true, 're-encoded as asciiJson writes it');
    assert.equal(read.encodedLine('café')?.startsWith(`${asciiJson('café')}\t`), true);
    // The same path twice, written two ways: a repeated path.
    fs.writeFileSync(f, `${header(2)}"Ab"${rest}\n"\\u0041b"${rest}\n`, 'latin1');
    assert.throws(() => readManifest(realFs, f), /repeats the path "Ab"/);
    for (const bad of ['"a"b"', '"a\u0001b"', '"a\\qb"']) {
      fs.writeFileSync(f, `${header(1)}${bad}${rest}\n`, 'latin1');
      assert.throws(() => readManifest(realFs, f), /line 2 is damaged/, JSON.stringify(bad));
    }
  });
});

describe('writeFileAtomic in pieces', () => {
  it('pieces longer than its buffer, pieces of bytes and multi-byte text come out whole and in order', (t) => {
    const root = tempDir();
    t.after(() => removeDir(root));
    const f = join(root, 'out');
    const pieces: (string | Uint8Array)[] = [];
    for (let i = 0; i < 3000; i++) pieces.push(`line ${i} é \u{1F600}\n`);
    pieces.push('x'.repeat(400_000), Buffer.from('raw bytes\n'), 'é'.repeat(700_000), '\n');
    for (let i = 0; i < 50_000; i++) pieces.push(`${i}\n`);
    writeFileAtomic(realFs, f, pieces);
    const want = Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));
    assert.ok(want.length > 2 << 20, 'over 2 MiB: more than one buffer');
    assert.deepEqual(fs.readFileSync(f), want);
  });
});
