import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { realFs } from '../../src/io/fs.js';
import { readManifest, writeManifest } from '../../src/store/manifest.js';
import { StateTable } from '../../src/store/state-table.js';
import type { StateEntry } from '../../src/meta/entry.js';
import { removeDir, tempDir } from '../helpers/tree.js';

/** The manifest is written line by line and read a few MiB at a time: lines cross chunk boundaries. */

const entry = (i: number): StateEntry => ({
  path: `folder ${i % 97}/Ω-файл-${i}-${'x'.repeat(i % 150)}.txt`,
  type: 'file',
  size: i,
  mtime_ns: `${1767225600000000000n + BigInt(i) * 1234567n}`,
  mode: 0o644,
  uid: 1000,
  gid: 1000,
  tracked: i % 2 === 0,
  sha256: (i % 16).toString(16).repeat(64),
  since: '2026-11-25T100000Z',
  ino: `2049:${i}`,
});

test('a 40,000-entry manifest (~10 MB) reads back entry for entry', (t) => {
  const dir = tempDir('hb-manifest-');
  t.after(() => removeDir(dir));
  const file = join(dir, 'manifest.jsonl');
  const entries = Array.from({ length: 40000 }, (_, i) => entry(i));
  writeManifest(realFs, file, { source: '/src', lastIncrement: '2026-11-25T100000Z' }, StateTable.from(entries));
  assert.ok(fs.statSync(file).size > 2 * (4 << 20), 'several read chunks');
  const m = readManifest(realFs, file);
  assert.equal(m.header?.entries, 40000);
  assert.equal(m.entries.size, 40000);
  for (const e of entries) assert.deepEqual(m.entries.get(e.path), e);
});

test('a manifest cut inside a line is refused, never read short', (t) => {
  const dir = tempDir('hb-manifest-');
  t.after(() => removeDir(dir));
  const file = join(dir, 'manifest.jsonl');
  writeManifest(realFs, file, { source: '/src', lastIncrement: null }, StateTable.from(Array.from({ length: 3000 }, (_, i) => entry(i))));
  const full = fs.readFileSync(file);
  // A cut inside the last line's last field still leaves 3000 lines that look whole: the missing
  // final newline is what gives it away.
  for (const cut of [full.length - 1, full.length - 3, full.length - 30, Math.floor(full.length / 2), 10]) {
    fs.writeFileSync(file, full.subarray(0, cut));
    assert.throws(() => readManifest(realFs, file), /damaged|promises|not readable|cut short/, `cut at ${cut}`);
  }
});

test('hasQuickKey compares the recorded key exactly, for lines read and for entries set', (t) => {
  const dir = tempDir('hb-manifest-');
  t.after(() => removeDir(dir));
  const file = join(dir, 'manifest.jsonl');
  const e = entry(7);
  writeManifest(realFs, file, { source: '/src', lastIncrement: null }, StateTable.from([e]));
  const read = readManifest(realFs, file).entries;
  const set = StateTable.from([e]);
  const key = `f:${e.tracked ? 1 : 0}:${e.size}:${e.mtime_ns}:${e.mode}`;
  for (const table of [read, set]) {
    assert.equal(table.hasQuickKey(e.path, key), true);
    assert.equal(table.hasQuickKey(e.path, key.slice(0, -1)), false, 'a prefix of the key is not the key');
    assert.equal(table.hasQuickKey(e.path, `${key}4`), false);
    assert.equal(table.hasQuickKey('other', key), false);
  }
});
