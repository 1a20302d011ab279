import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import { runPrune } from '../../src/apply/prune.js';
import { pruneJournalText, type PruneGroup } from '../../src/apply/prune-exec.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { encodeLine, type JournalHeader, type JournalOp } from '../../src/store/journal.js';
import type { StateEntry } from '../../src/meta/entry.js';
import { HardbackError } from '../../src/io/errors.js';
import { makeTree, profileFor, removeDir, tempDir } from '../helpers/tree.js';

const opts = { dryRun: false, force: false, checksum: false, reporter: silentReporter };

async function setup(t: { after: (fn: () => void) => void }) {
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  const dist = join(root, 'dist');
  makeTree(src, { 'a.txt': 'a' });
  await runBackup(profileFor(src, dist), opts);
  const victim = join(root, 'victim');
  makeTree(victim, { 'precious.txt': 'do not delete' });
  return { root, src, dist, victim };
}

test('a journal whose header names a path instead of an increment is refused, and nothing outside the backup is touched', async (t) => {
  const { src, dist, victim } = await setup(t);
  const header: JournalHeader = { journal: 1, id: '../../victim', profile: 'default', source: src, started: new Date().toISOString(), link_mode: 'hardlink' };
  fs.writeFileSync(join(dist, '.hardback', 'journal.jsonl'), encodeLine(header));
  await assert.rejects(runBackup(profileFor(src, dist), opts), (err: unknown) => err instanceof HardbackError && /journal header names no valid increment/.test(err.message));
  assert.equal(fs.readFileSync(join(victim, 'precious.txt'), 'utf8'), 'do not delete');
});

test('a journal line whose temp name points elsewhere is dropped, not acted on', async (t) => {
  const { src, dist, victim } = await setup(t);
  const header: JournalHeader = { journal: 1, id: '2026-01-01T000000Z', profile: 'default', source: src, started: new Date().toISOString(), link_mode: 'hardlink' };
  const entry: StateEntry = { path: 'a.txt', type: 'file', size: 1, mtime_ns: '1', mode: 420, uid: 0, gid: 0, tracked: true, sha256: 'a'.repeat(64) };
  const put: JournalOp = { op: 'put', kind: 'changed', entry, tmp: '../../../victim/precious.txt' };
  fs.writeFileSync(join(dist, '.hardback', 'journal.jsonl'), encodeLine(header) + encodeLine(put));
  await runBackup(profileFor(src, dist), opts);
  assert.equal(fs.readFileSync(join(victim, 'precious.txt'), 'utf8'), 'do not delete');
  assert.equal(fs.readFileSync(join(dist, 'mirror', 'a.txt'), 'utf8'), 'a');
});

test('a prune plan naming paths outside the backup is refused by prune and by backup', async (t) => {
  const { src, dist, victim } = await setup(t);
  const id = fs.readdirSync(join(dist, 'increments'))[0] as string;
  fs.writeFileSync(join(dist, '.hardback', 'prune.json'), JSON.stringify({ groups: [{ into: id, pruned: ['../../victim'], carried: [], moves: [] }] }));
  await assert.rejects(runBackup(profileFor(src, dist), opts), /not a prune plan hardback wrote/);
  await assert.rejects(runPrune({ dist, policy: { last: 1 }, dryRun: false }), /not a prune plan hardback wrote/);
  assert.equal(fs.readFileSync(join(victim, 'precious.txt'), 'utf8'), 'do not delete');
  fs.writeFileSync(join(dist, '.hardback', 'prune.json'), JSON.stringify({ groups: [{ into: id, pruned: [], carried: [], moves: [{ from: id, path: '../../victim/precious.txt' }] }] }));
  await assert.rejects(runPrune({ dist, policy: { last: 1 }, dryRun: false }), /not a prune plan hardback wrote/);
});

test('a prune plan in lines naming paths outside the backup is refused; one not whole is removed, not acted on', async (t) => {
  const { src, dist, victim } = await setup(t);
  const id = fs.readdirSync(join(dist, 'increments'))[0] as string;
  const plan = join(dist, '.hardback', 'prune.json');
  const text = (groups: PruneGroup[]) => [...pruneJournalText(groups)].join('');
  const carried = { path: 'a.txt', type: 'file', size: 1, mtime: 'x', mtime_ns: '1', mode: 420, uid: 0, gid: 0, tracked: true, sha256: 'a'.repeat(64), status: 'new', from: id } as const;
  for (const hostile of [
    { into: id, pruned: ['../../victim'], carried: [], moves: [] },
    { into: id, pruned: [], carried: [carried], moves: [{ from: id, path: '../../victim/precious.txt' }] },
    { into: id, pruned: [], carried: [{ ...carried, path: '../../victim/precious.txt' }], moves: [] },
  ]) {
    fs.writeFileSync(plan, text([hostile]));
    await assert.rejects(runBackup(profileFor(src, dist), opts), /not a prune plan hardback wrote/);
    await assert.rejects(runPrune({ dist, policy: { last: 1 }, dryRun: false }), /not a prune plan hardback wrote/);
    assert.equal(fs.readFileSync(join(victim, 'precious.txt'), 'utf8'), 'do not delete');
  }
  fs.unlinkSync(plan); // refused plans are left for the user to look at
  // A plan pruning the first increment into the second: damaged, it must not be acted on.
  await runBackup(profileFor(src, dist), opts);
  fs.writeFileSync(join(src, 'a.txt'), 'changed');
  await runBackup(profileFor(src, dist), opts);
  const ids = fs.readdirSync(join(dist, 'increments')).filter((n) => !n.startsWith('.')).sort();
  assert.equal(ids.length, 2);
  const whole = text([{ into: ids[1] as string, pruned: [ids[0] as string], carried: [carried, { ...carried, path: 'b.txt' }], moves: [] }]);
  const lines = whole.split('\n');
  const damaged: [string, string][] = [
    ['cut inside a record', whole.slice(0, whole.length - 20)],
    ['a record line missing', lines.filter((_, i) => i !== 3).join('\n')],
    ['a line too many', `${whole}${lines[2] as string}\n`],
    ['a count not a number', whole.replace('"carried":2', '"carried":"2"')],
    ['its header cut', whole.slice(0, 10)],
    ['empty', ''],
  ];
  for (const [what, bad] of damaged) {
    fs.writeFileSync(plan, bad);
    await runBackup(profileFor(src, dist), opts);
    assert.equal(fs.existsSync(plan), false, `${what}: removed`);
    assert.deepEqual(fs.readdirSync(join(dist, 'increments')).filter((n) => !n.startsWith('.')).sort(), ids, `${what}: no increment removed`);
  }
  // Whole JSON that is no plan this build knows is refused and left in place, not removed.
  for (const [what, unknown] of [['another format', whole.replace('"format":2', '"format":3')], ['null', 'null\n'], ['a list', '[]']] as const) {
    fs.writeFileSync(plan, unknown);
    await assert.rejects(runBackup(profileFor(src, dist), opts), /not a prune plan hardback wrote/, what);
    assert.equal(fs.readFileSync(plan, 'utf8'), unknown, `${what}: left in place`);
  }
  // Whole, the same plan is carried out by the next run: as one document, as earlier builds wrote it, ...
  const groups = [{ into: ids[1] as string, pruned: [ids[0] as string], carried: [carried, { ...carried, path: 'b.txt' }], moves: [] }];
  const copy = join(dist, '..', 'saved');
  fs.cpSync(dist, copy, { recursive: true });
  fs.writeFileSync(plan, JSON.stringify({ groups }));
  await runBackup(profileFor(src, dist), opts);
  assert.equal(fs.existsSync(plan), false);
  assert.deepEqual(fs.readdirSync(join(dist, 'increments')).filter((n) => !n.startsWith('.')).sort(), [ids[1]]);
  const doneAsDocument = fs.readFileSync(join(dist, 'increments', ids[1] as string, 'increment.json'), 'utf8');
  // ... and in lines, with the same result.
  fs.rmSync(dist, { recursive: true });
  fs.renameSync(copy, dist);
  fs.writeFileSync(plan, whole);
  await runBackup(profileFor(src, dist), opts);
  assert.equal(fs.existsSync(plan), false);
  assert.deepEqual(fs.readdirSync(join(dist, 'increments')).filter((n) => !n.startsWith('.')).sort(), [ids[1]]);
  const carriedOut = JSON.parse(fs.readFileSync(join(dist, 'increments', ids[1] as string, 'increment.json'), 'utf8')) as { carried?: { path: string }[]; pruned?: string[] };
  assert.deepEqual(carriedOut.carried?.map((c) => c.path), ['a.txt', 'b.txt']);
  assert.deepEqual(carriedOut.pruned, [ids[0]]);
  const strip = (t: string) => t.replace(/"(finished|recovered_at)": "[^"]*"/g, '');
  assert.equal(strip(fs.readFileSync(join(dist, 'increments', ids[1] as string, 'increment.json'), 'utf8')), strip(doneAsDocument));
});

test('a run refused as the wrong source repairs nothing in the other backup', async (t) => {
  const { root, dist } = await setup(t);
  const bare = join(dist, 'increments', '2030-01-01T000000Z');
  makeTree(bare, { 'files/x.txt': 'left by a crash' });
  const other = join(root, 'other');
  makeTree(other, { 'b.txt': 'b' });
  await assert.rejects(runBackup(profileFor(other, dist), opts), /this backup belongs to/);
  assert.equal(fs.existsSync(join(bare, 'increment.json')), false, 'the bare increment was left for its own source to repair');
});
