import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { makeTree, profileFor, readTree, removeDir, tempDir } from '../helpers/tree.js';
import { tool } from '../helpers/tool.js';

// SPEC §6 "Hostile metadata": an unreadable increment.json is named and that increment skipped; an
// entry whose path has "..", is absolute or holds NUL (or has wrong types) is named and skipped; the
// command does the rest of its work and exits 1; nothing is written outside the target.


let root = '';
let dist = '';
const ids: string[] = [];
const PAYLOAD = 'pwned';
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function record(path: unknown, over: Record<string, unknown> = {}) {
  return { path, type: 'file', size: PAYLOAD.length, mtime: '2026-01-01T00:00:00.000Z', mtime_ns: '1767225600000000000', mode: 0o644, uid: 0, gid: 0, sha256: sha(PAYLOAD), tracked: true, ...over };
}

before(async () => {
  root = tempDir('hb-hostile-');
  const src = join(root, 'work', 'src');
  dist = join(root, 'work', 'dist');
  makeTree(src, { 'Projects/a.txt': 'a1', 'Projects/b.txt': 'b1' });
  const p = profileFor(src, dist);
  const run = async (h: number) => {
    const out = await runBackup(p, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date(Date.UTC(2026, 0, 1, h)) });
    ids.push(out.id as string);
  };
  await run(1);
  fs.writeFileSync(join(src, 'Projects/a.txt'), 'a2 changed');
  await run(2);
  fs.writeFileSync(join(src, 'Projects/b.txt'), 'b3 changed');
  await run(3);

  // Increment 2 gains hostile entries, with content placed where a careless join would find it.
  const f2 = join(dist, 'increments', ids[1] as string, 'increment.json');
  const json = JSON.parse(fs.readFileSync(f2, 'utf8')) as { new: unknown[]; changed: unknown[]; previous: unknown; pruned: unknown };
  json.new.push(record('../escape'), record('/tmp/hb-absolute-escape'), record('Projects/nul\u0000x'), record('Projects/../../escape2'));
  json.new.push(record('Projects/wrong-type', { type: 42 }), record('Projects/wrong-size', { size: 'big' }), record(7));
  json.previous = { evil: true };
  json.pruned = 'everything';
  fs.writeFileSync(f2, JSON.stringify(json));
  fs.writeFileSync(join(dist, 'increments', ids[1] as string, 'escape'), PAYLOAD);
  // Increment 3's metadata is cut in half.
  const f3 = join(dist, 'increments', ids[2] as string, 'increment.json');
  const text = fs.readFileSync(f3, 'utf8');
  fs.writeFileSync(f3, text.slice(0, text.length / 2));
});
after(() => removeDir(root));

const problemsOf = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('backup-tool: problem:'));

describe('hostile metadata', () => {
  it('list names the unreadable increment and every bad entry, shows the rest, exits 1', async () => {
    const r = await tool([dist, 'list']);
    assert.equal(r.code, 1);
    const problems = problemsOf(r.stderr).join('\n');
    assert.match(problems, new RegExp(`${ids[2]}.*not valid JSON.*skipped`));
    for (const bad of ['"../escape"', '"/tmp/hb-absolute-escape"', 'nul\\u0000x', '"Projects/../../escape2"', 'wrong-type: bad type', 'wrong-size: bad size', 'unsafe path 7']) {
      assert.ok(problems.includes(bad), `${bad} named in:\n${problems}`);
    }
    assert.ok(r.stdout.includes(ids[0] as string) && r.stdout.includes(ids[1] as string));
    const j = JSON.parse((await tool([dist, 'list', '--json'])).stdout) as { exit: number; increments: { id: string; readable: boolean }[]; problems: string[] };
    assert.equal(j.exit, 1);
    assert.deepEqual(j.increments.map((i) => i.readable), [true, true, false]);
    assert.ok(j.problems.length >= 8);
  });

  it('names each of 200,000 bad entries of one increment, as a problem, not a crash', async () => {
    const copy = join(root, 'many-bad');
    fs.cpSync(dist, copy, { recursive: true });
    const f1 = join(copy, 'increments', ids[0] as string, 'increment.json');
    const json = JSON.parse(fs.readFileSync(f1, 'utf8')) as { new: unknown[] };
    // More than a call's arguments can hold (push(...) of them threw "Maximum call stack size exceeded").
    for (let i = 0; i < 200_000; i++) json.new.push(record(`../escape-${i}`));
    fs.writeFileSync(f1, `{\n${Object.entries(json).map(([k, v]) => (Array.isArray(v) && v.length > 0 ? ` ${JSON.stringify(k)}: [\n${v.map((x) => `  ${JSON.stringify(x)}`).join(',\n')}\n ]` : ` ${JSON.stringify(k)}: ${JSON.stringify(v)}`)).join(',\n')}\n}\n`);
    const r = await tool([copy, 'list', '--json']);
    assert.equal(r.code, 1, r.stderr.slice(0, 500));
    const j = JSON.parse(r.stdout) as { problems: string[] };
    assert.equal(j.problems.filter((p) => p.includes('../escape-')).length, 200_000);
    removeDir(copy);
  });

  it('list, which decodes no record, counts the lists of an increment whose summary misses a count', async () => {
    const src = join(root, 'summary', 'src');
    const d = join(root, 'summary', 'dist');
    makeTree(src, { 'Projects/a.txt': 'a', 'Projects/b.txt': 'b', 'c.txt': 'c' });
    const out = await runBackup(profileFor(src, d), { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date(Date.UTC(2026, 0, 2)) });
    const f = join(d, 'increments', out.id as string, 'increment.json');
    const json = JSON.parse(fs.readFileSync(f, 'utf8')) as { new: unknown[]; summary: Record<string, unknown> };
    assert.equal(json.new.length, 4);
    const listed = async () => (JSON.parse((await tool([d, 'list', '--json'])).stdout) as { increments: { summary: Record<string, number> }[] }).increments[0]?.summary;
    json.summary['new'] = 99;
    fs.writeFileSync(f, JSON.stringify(json));
    assert.equal((await listed())?.['new'], 99, 'a whole summary is shown as recorded');
    delete json.summary['new'];
    fs.writeFileSync(f, JSON.stringify(json));
    assert.equal((await listed())?.['new'], 4, 'a missing count is counted from the list');
  });

  it('recreate does the rest of its work, writes nothing outside the target, exits 1', async () => {
    const target = join(root, 'restore', 'target');
    fs.mkdirSync(join(root, 'restore'));
    const r = await tool([dist, 'recreate', '--at', ids[1] as string, '--to', target]);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(fs.readdirSync(join(root, 'restore')), ['target']);
    assert.equal(fs.existsSync('/tmp/hb-absolute-escape'), false);
    assert.equal(fs.existsSync(join(root, 'escape')), false);
    assert.deepEqual(
      [...readTree(target)].filter(([, v]) => v.type === 'file').map(([p]) => p),
      ['Projects/a.txt', 'Projects/b.txt'],
    );
    assert.equal(fs.readFileSync(join(target, 'Projects/a.txt'), 'utf8'), 'a2 changed');
  });

  it('refuses to name the unreadable increment as WHEN, saying why', async () => {
    const r = await tool([dist, 'recreate', '--at', ids[2] as string, '--to', join(root, 'never')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot be read/);
    assert.equal(fs.existsSync(join(root, 'never')), false);
  });

  it('the latest state still comes whole from the mirror', async () => {
    const target = join(root, 'latest');
    const r = await tool([dist, 'recreate', '--to', target]);
    assert.equal(r.code, 1);
    assert.equal(fs.readFileSync(join(target, 'Projects/b.txt'), 'utf8'), 'b3 changed');
  });

  it('search, history, diff and verify skip the bad entries and exit 1', async () => {
    const s = await tool([dist, 'search', '--json']);
    assert.equal(s.code, 1);
    const paths = (JSON.parse(s.stdout) as { results: { path: string }[] }).results.map((x) => x.path);
    assert.deepEqual(paths, ['Projects', 'Projects/a.txt', 'Projects/b.txt']);
    assert.equal((await tool([dist, 'history', 'Projects/a.txt'])).code, 1);
    assert.equal((await tool([dist, 'diff', ids[0] as string])).code, 1);
    assert.equal((await tool([dist, 'verify'])).code, 1);
  });

  it('never reads a stored file through a symlink: a swapped link is an error, not content', async () => {
    const stored = join(dist, 'increments', ids[0] as string, 'files', 'Projects/a.txt');
    const outside = join(root, 'outside-secret');
    fs.writeFileSync(outside, 'a1');
    fs.renameSync(stored, `${stored}.saved`);
    fs.symlinkSync(outside, stored);
    try {
      const target = join(root, 'via-link');
      const r = await tool([dist, 'restore', 'Projects/a.txt', '--at', ids[0] as string, '--to', target]);
      assert.equal(r.code, 1);
      assert.equal(fs.existsSync(join(target, 'Projects/a.txt')), false);
    } finally {
      fs.unlinkSync(stored);
      fs.renameSync(`${stored}.saved`, stored);
    }
  });
});
