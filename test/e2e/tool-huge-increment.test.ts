import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { constants } from 'node:buffer';
import { BACKUP_JS, TOOL_JS, removeDir, runCli, tempDir } from '../helpers/tree.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import type { EntryRecord } from '../../src/meta/entry.js';
import type { IncrementJson } from '../../src/meta/increment.js';
import { incrementText, type IncrementDocument, type RecordList } from '../../src/store/records.js';

// A first run of a source of ~2.3 million files writes an increment.json longer than V8's longest
// string (2^29 - 24 characters). Read as one text, it made every command that reads the backup fail
// ("Cannot create a string longer than 0x1fffffe8 characters"): nothing could be listed, found or
// restored. The backup here is a real one whose first increment's list is made that long (the
// versions it names are not stored, but the one restored).

const RECORDS = 2_300_000;
const CONTENT = 'the one version restored\n';
const SHA = createHash('sha256').update(CONTENT).digest('hex');
const pathOf = (i: number) => `folder-${i % 1000}/a-somewhat-long-file-name-${i}.txt`;

test('a backup whose increment.json is longer than the longest string is listed, searched and restored from', (t) => {
  ensureBuilt();
  const root = tempDir();
  t.after(() => removeDir(root));
  fs.mkdirSync(join(root, 'src'));
  fs.writeFileSync(join(root, 'src', 'kept.txt'), 'kept\n');
  const config = join(root, 'config.json');
  fs.writeFileSync(config, JSON.stringify({ src: join(root, 'src'), dist: join(root, 'dist') }));
  assert.equal(runCli(BACKUP_JS, [config, '--quiet']).code, 0);
  const [id] = fs.readdirSync(join(root, 'dist', 'increments')).filter((n) => !n.startsWith('.'));
  assert.ok(id !== undefined);
  const file = join(root, 'dist', 'increments', id, 'increment.json');
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as IncrementJson;

  // The same document, its new list RECORDS longer, written as the program writes it (a piece at a time).
  const mtime = json.new[0]?.mtime ?? '';
  const synthetic = (i: number): EntryRecord => ({ path: pathOf(i), type: 'file', size: CONTENT.length, mtime, mtime_ns: '1796000000000000000', mode: 0o644, uid: 0, gid: 0, tracked: true, sha256: SHA });
  const newList: RecordList<EntryRecord> = {
    length: json.new.length + RECORDS,
    *[Symbol.iterator]() {
      yield* json.new;
      for (let i = 0; i < RECORDS; i++) yield synthetic(i);
    },
  };
  const doc: IncrementDocument = { ...json, new: newList, summary: { ...json.summary, new: newList.length } };
  const fd = fs.openSync(file, 'w');
  let batch: string[] = [];
  let size = 0;
  for (const piece of incrementText(doc)) {
    batch.push(piece);
    size += piece.length;
    if (size >= 1 << 20) {
      fs.writeSync(fd, batch.join(''));
      batch = [];
      size = 0;
    }
  }
  fs.writeSync(fd, batch.join(''));
  fs.closeSync(fd);
  assert.ok(fs.statSync(file).size > constants.MAX_STRING_LENGTH, `${fs.statSync(file).size} bytes: longer than the longest string`);
  const wanted = pathOf(1_234_567);
  fs.mkdirSync(join(root, 'dist', 'increments', id, 'files', 'folder-567'), { recursive: true });
  fs.writeFileSync(join(root, 'dist', 'increments', id, 'files', wanted), CONTENT);

  const list = runCli(TOOL_JS, [config, 'list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  const listed = JSON.parse(list.stdout) as { increments: { id: string; readable: boolean; summary: { new: number } }[] };
  assert.deepEqual(listed.increments.map((i) => [i.id, i.readable, i.summary.new]), [[id, true, RECORDS + 1]]);

  const search = runCli(TOOL_JS, [config, 'search', '--mask', 'a-somewhat-long-file-name-1234567.txt']);
  assert.equal(search.code, 0, search.stderr);
  assert.match(search.stdout, new RegExp(`${wanted}[^]*1 path found`));

  const history = runCli(TOOL_JS, [config, 'history', wanted, '--json']);
  assert.equal(history.code, 0, history.stderr);
  assert.match(history.stdout, new RegExp(SHA));

  const restored = join(root, 'restored');
  const restore = runCli(TOOL_JS, [config, 'restore', wanted, '--to', restored]);
  assert.equal(restore.code, 0, restore.stderr);
  assert.equal(fs.readFileSync(join(restored, wanted), 'utf8'), CONTENT);
});
