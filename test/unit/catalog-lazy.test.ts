import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { runBackup } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { errorMessage } from '../../src/io/errors.js';
import { realFs } from '../../src/io/fs.js';
import { isoFromNs, type Entry, type EntryRecord, type StateEntry } from '../../src/meta/entry.js';
import { checkRecord, type PathFilter } from '../../src/meta/increment.js';
import { isSafeRelPath } from '../../src/meta/safe-path.js';
import { compileMasks, searchHistory } from '../../src/restore/search.js';
import { pathsFilter, selectPaths } from '../../src/restore/select.js';
import { buildHistory, currentItems, stateAt, type History } from '../../src/restore/state-at.js';
import { incrementsSize, readCatalog, readCatalogSharing, readIncrements, type Catalog, type CatalogWant } from '../../src/store/catalog.js';
import { readIncrementsElsewhere, runCatalogWorker, sent, taken, type Sent } from '../../src/cli/tool/catalog-worker.js';
import { isIncrementId } from '../../src/store/ids.js';
import { JournalWriter } from '../../src/store/journal.js';
import { Layout, manifestDeltaOf } from '../../src/store/layout.js';
import { readManifest } from '../../src/store/manifest.js';
import { makeRng } from '../helpers/model.js';
import { REPO, makeTree, profileFor, removeDir, tempDir } from '../helpers/tree.js';

// A command decodes only the entries and records it needs (store/catalog.ts, CatalogWant); what it
// gets for those paths, and the problems it is told about, must be what a whole read gives.

let root = '';
let src = '';
let dist = '';
let layout: Layout;
const ids: string[] = [];

before(async () => {
  root = tempDir('hb-lazy-');
  src = join(root, 'src');
  dist = join(root, 'dist');
  layout = new Layout(dist);
  makeTree(src, {
    'Projects/a.md': 'a1',
    'Projects/b.txt': 'b1',
    'Projects/deep/c.md': 'c1',
    'Projects/deep/Ελληνικά.md': 'greek',
    'Projects/link': { symlink: '../Notes' },
    'Notes/n.md': 'n1',
    'Notes/untracked.log': 'u1',
    'Notes/empty': { dir: true },
    'todo.txt': 't1',
  });
  const p = profileFor(src, dist, { rules: { track_dirs: ['Projects', 'Notes/empty'], track_files: ['todo.txt', '*.md'] } });
  const run = async (h: number) => {
    const out = await runBackup(p, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date(Date.UTC(2026, 0, 1, h)) });
    ids.push(out.id as string);
  };
  await run(1);
  fs.writeFileSync(join(src, 'Projects/a.md'), 'a2 changed');
  fs.writeFileSync(join(src, 'Notes/untracked.log'), 'u2 changed');
  fs.rmSync(join(src, 'Projects/b.txt'));
  await run(2);
  fs.rmSync(join(src, 'Projects/deep'), { recursive: true });
  fs.writeFileSync(join(src, 'Projects/deep'), 'now a file');
  fs.writeFileSync(join(src, 'Notes/n2.md'), 'n2');
  await run(3);
  fs.writeFileSync(join(src, 'todo.txt'), 't4');
  await run(4);
});
after(() => removeDir(root));

const FILTERS: [string, PathFilter][] = [
  ['*.md', compileMasks(['*.md'])],
  ['Projects/**', compileMasks(['Projects/**'])],
  ['nothing', () => false],
  ['one path', (p) => p === 'Projects/a.md'],
];

/** The catalog read whole, with only what `want` accepts kept: what a partial read must give. */
function wholeFiltered(want: PathFilter): Catalog {
  const c = readCatalog(realFs, dist);
  return {
    ...c,
    current: new Map([...c.current].filter(([p]) => want(p))),
    increments: c.increments.map((inc) => {
      if (inc.json === undefined) return inc;
      const j = inc.json;
      const json = { ...j, new: j.new.filter((r) => want(r.path)), changed: j.changed.filter((r) => want(r.path)), deleted: j.deleted.filter((r) => want(r.path)) };
      if (j.carried !== undefined) json.carried = j.carried.filter((r) => want(r.path));
      return { ...inc, json };
    }),
  };
}

const historyOf = (c: Catalog): History =>
  buildHistory({ increments: c.increments, current: c.current, lastIncrement: c.header?.last_increment ?? null, since: c.since });

function assertPartialReadsAgree(what: string): void {
  const whole = readCatalog(realFs, dist);
  assert.deepEqual(buildHistory({ increments: whole.increments, current: whole.current, lastIncrement: whole.header?.last_increment ?? null }), historyOf(whole), `${what}: since`);
  for (const [name, want] of FILTERS) {
    const partial = readCatalog(realFs, dist, { current: want, records: want });
    assert.deepEqual(partial, wholeFiltered(want), `${what}, ${name}`);
  }
  // What each command computes from a partial read: search, history, restore.
  const hWhole = historyOf(whole);
  for (const masks of [['*.md'], ['Projects/**'], ['deep'], ['Notes/*', 'todo.txt']]) {
    const m = compileMasks(masks);
    const h = historyOf(readCatalog(realFs, dist, { current: m, records: m }));
    for (const deleted of [false, true]) {
      assert.deepEqual(searchHistory(h, { masks, deleted }), searchHistory(hWhole, { masks, deleted }), `${what}: search ${masks.join(' ')}`);
    }
    assert.deepEqual(searchHistory(h, { masks, since: ids[1], until: ids[2] }), searchHistory(hWhole, { masks, since: ids[1], until: ids[2] }));
  }
  for (const paths of [['Projects/deep'], ['Projects/deep/c.md', 'Notes'], ['Projects/b.txt'], ['Projects/a.md']]) {
    const h = historyOf(readCatalog(realFs, dist, { current: pathsFilter(paths), records: pathsFilter(paths) }));
    for (const cut of [undefined, ...ids.map((at) => ({ at }))]) {
      assert.deepEqual(selectPaths(h, paths, cut), selectPaths(hWhole, paths, cut), `${what}: restore ${paths.join(' ')} at ${JSON.stringify(cut)}`);
    }
  }
}

/** The fields that make a version, whichever record or entry describes it. */
const versionOf = (e: Entry | undefined) => e && [e.type, e.size, e.mtime_ns, e.mode, e.tracked, e.sha256, e.target];

describe('partial reads of a backup', () => {
  it('give what a whole read gives, for the paths asked for', () => {
    assertPartialReadsAgree('a clean backup');
  });

  it('agree where the current state is a manifest and its delta (lines kept apart from the text read)', async () => {
    const s = join(root, 'delta-src');
    const d = join(root, 'delta-dist');
    const spec: Record<string, string> = {};
    for (let i = 0; i < 40; i++) spec[`f/${i}.md`] = `${i}`;
    makeTree(s, spec);
    const p = profileFor(s, d, { rules: { track_files: ['*.md'] } });
    const run = (h: number) => runBackup(p, { dryRun: false, force: false, checksum: false, reporter: silentReporter, now: () => new Date(Date.UTC(2026, 1, 1, h)) });
    await run(1);
    fs.writeFileSync(join(s, 'f/3.md'), 'three, changed');
    fs.writeFileSync(join(s, 'f/new.md'), 'new');
    await run(2);
    assert.ok(fs.existsSync(manifestDeltaOf(new Layout(d).manifest)), 'the second run wrote a delta');
    const whole = readCatalog(realFs, d);
    assert.deepEqual(whole.problems, []);
    assert.equal(whole.current.size, 42);
    for (const [name, want] of FILTERS) {
      const partial = readCatalog(realFs, d, { current: want, records: want });
      assert.deepEqual(partial.problems, [], name);
      assert.deepEqual(partial.since, whole.since, name);
      assert.deepEqual(partial.current, new Map([...whole.current].filter(([path]) => want(path))), name);
    }
  });

  it('name the same problems, and agree, with a missing increment, a damaged entry and a run in progress', () => {
    const saved = join(root, 'saved');
    fs.cpSync(dist, saved, { recursive: true, verbatimSymlinks: true });
    try {
      fs.rmSync(layout.incrementDir(ids[1] as string), { recursive: true });
      // The entry's current line: in the delta when a run since the last whole write changed it.
      const holder = [layout.manifestDelta, layout.manifest].find((f) => fs.existsSync(f) && fs.readFileSync(f, 'latin1').includes('\n"todo.txt"\t')) as string;
      const m = fs.readFileSync(holder, 'latin1').split('\n');
      const i = m.findIndex((l) => l.startsWith('"todo.txt"'));
      m[i] = (m[i] as string).replace(/\t[0-9a-f]{64}\t/, '\tnot-a-sha\t');
      fs.writeFileSync(holder, m.join('\n'), 'latin1');
      const id = '2026-01-01T050000Z';
      fs.mkdirSync(layout.incrementDir(id));
      const before = readCatalog(realFs, dist).current;
      const gone = before.get('Notes/n.md') as StateEntry;
      // The only entries that name the third increment as their `since`: gone, it is named by none.
      const third = [...before.values()].filter((e) => e.since === ids[2]);
      assert.deepEqual(third.map((e) => e.path).sort(), ['Notes/n2.md', 'Projects/deep']);
      const header = { journal: 1 as const, id, profile: 'default', source: src, started: new Date().toISOString(), link_mode: 'hardlink' as const };
      const w = new JournalWriter(realFs, layout.journal, header);
      for (const e of [gone, ...third]) w.append({ op: 'del', entry: e });
      w.append({ op: 'put', kind: 'new', entry: { ...gone, path: 'Notes/new.md', since: id }, tmp: 'hb-done' });
      w.sync();
      w.close();
      for (const e of [gone, ...third]) fs.unlinkSync(layout.mirrorPath(e.path));
      const whole = readCatalog(realFs, dist);
      assert.equal(whole.problems.length, 1, whole.problems.join('\n'));
      assert.equal(whole.currentWhole, false);
      assert.ok(whole.since.has(id));
      // `since` is that of every entry of the state the journal leaves (todo.txt, damaged, aside).
      assert.deepEqual(whole.since, new Set([...whole.current.values()].map((e) => e.since)));
      assert.ok(!whole.since.has(ids[2] as string));
      assertPartialReadsAgree('a damaged backup');
    } finally {
      removeDir(dist);
      fs.renameSync(saved, dist);
    }
  });

  it('the latest state is the current state: the same versions as from the records', () => {
    const c = readCatalog(realFs, dist, { records: () => false });
    assert.equal(c.currentWhole, true);
    assert.ok(c.increments.every((i) => i.json !== undefined && i.json.new.length === 0));
    const fromCurrent = new Map(currentItems(c.current).map((i) => [i.path, i]));
    const fromRecords = stateAt(historyOf(readCatalog(realFs, dist)), 'latest');
    assert.deepEqual([...fromCurrent.keys()].sort(), [...fromRecords.keys()]);
    for (const [path, item] of fromRecords) {
      const cur = fromCurrent.get(path);
      assert.deepEqual(versionOf(cur?.entry), versionOf(item.entry), path);
      assert.equal(cur?.source.kind, item.type === 'file' ? 'mirror' : 'metadata');
    }
  });
});

describe('increments read by another thread', () => {
  const WORKER = join(REPO, '.test-build', 'src', 'bin', 'backup-tool.js');

  it('give the same catalog as this thread reading them', async () => {
    for (const masks of [['*.md'], ['Projects/**'], []]) {
      const m = compileMasks(masks);
      const want: CatalogWant = { current: m, records: m, recordsSpec: { masks } };
      const early = await readIncrementsElsewhere(WORKER, dist, { masks });
      assert.ok(early !== undefined, 'the worker answered');
      assert.deepEqual(early, readIncrements(realFs, dist, m));
      assert.deepEqual(await readCatalogSharing(realFs, dist, want, Promise.resolve(early)), readCatalog(realFs, dist, want));
    }
    const none: CatalogWant = { records: () => false, recordsSpec: 'none' };
    const early = readIncrementsElsewhere(WORKER, dist, 'none');
    assert.deepEqual(await readCatalogSharing(realFs, dist, none, early), readCatalog(realFs, dist, none));
  });

  it('give the same catalog where increment.json is laid out by hand or damaged (records sent as objects or as text)', async () => {
    const saved = join(root, 'saved-text');
    fs.cpSync(dist, saved, { recursive: true, verbatimSymlinks: true });
    try {
      // One file parsed whole (another layout), one with a record line spaced otherwise (parsed on its
      // own), one with a damaged record (named, skipped).
      const [first, second, third] = ids.map((id) => layout.incrementJson(id));
      fs.writeFileSync(first as string, JSON.stringify(JSON.parse(fs.readFileSync(first as string, 'utf8'))));
      const lines = fs.readFileSync(second as string, 'utf8').split('\n');
      const i = lines.findIndex((l) => l.includes('"path":"Projects/a.md"'));
      lines[i] = (lines[i] as string).replace('"type":"file"', '"type": "file"');
      fs.writeFileSync(second as string, lines.join('\n'));
      const damaged = fs.readFileSync(third as string, 'utf8').replace(/"sha256":"[0-9a-f]{64}"/, '"sha256":"nope"');
      fs.writeFileSync(third as string, damaged);
      for (const masks of [['*.md'], ['Projects/**'], []]) {
        const m = compileMasks(masks);
        const early = await readIncrementsElsewhere(WORKER, dist, { masks });
        assert.ok(early !== undefined, 'the worker answered');
        const here = readIncrements(realFs, dist, m);
        assert.deepEqual(early, here, masks.join(' '));
        assert.ok([...here.values()].some((r) => r.problems.length > 0), 'a record was damaged');
        if (masks.length === 0) assert.ok((here.get(ids[1] as string)?.value.json?.changed ?? []).some((r) => r.path === 'Projects/a.md'), 'the spaced line was read');
      }
    } finally {
      removeDir(dist);
      fs.renameSync(saved, dist);
    }
  });

  it('cross as text whatever their lists hold: texts, records, or both', () => {
    const here = readIncrements(realFs, dist, () => true);
    const asText = readIncrements(realFs, dist, () => true, { recordText: true });
    let texts = 0;
    for (const [id, read] of asText) {
      const json = read.value.json;
      assert.ok(json !== undefined);
      texts += json.new.filter((r) => typeof r === 'string').length;
      // One list with its first record made an object again, as a file parsed whole holds them.
      const mixed = json.new.map((r, i) => (i === 0 && typeof r === 'string' ? (JSON.parse(r) as EntryRecord) : r));
      const message = structuredClone(sent([id, { ...read, value: { ...read.value, json: { ...json, new: mixed } } }]));
      assert.deepEqual(taken(message), [id, here.get(id)], id);
      // A list longer than one text may hold goes as several (a string holds at most 2^29 - 24 characters).
      const split = sent([id, read], 300);
      if (json.new.length > 1) assert.ok((split[2]?.new?.length ?? 0) > 1, `${id}: ${json.new.length} records in more than one text`);
      assert.ok((split[2]?.new ?? []).every((t) => t.length <= 300 || !t.includes('},{')), 'each text within the bound, or one record');
      assert.deepEqual(taken(structuredClone(split)), [id, here.get(id)], `${id}, in several texts`);
      // A carried list as prune writes them, as text and as records, and an increment not read.
      const record = [...here.values()].flatMap((r) => r.value.json?.new ?? [])[0];
      assert.ok(record !== undefined);
      const carriedRecord = { ...record, status: 'new' as const, from: id };
      const withCarried = { ...json, carried: [JSON.stringify(carriedRecord), carriedRecord] };
      const [, across] = taken(structuredClone(sent([id, { ...read, value: { ...read.value, json: withCarried } }])));
      assert.deepEqual(across.value.json?.carried, [carriedRecord, carriedRecord]);
      const unread = { value: { id, json: undefined, problem: 'missing' }, problems: [`${id}: missing`] };
      assert.deepEqual(taken(structuredClone(sent([id, unread]))), [id, unread]);
    }
    assert.ok(texts > 0, 'records were read as text');
  });

  it('are worth a thread by their size', () => {
    const sizes = ids.map((id) => fs.statSync(layout.incrementJson(id)).size);
    assert.equal(incrementsSize(realFs, dist), sizes.reduce((a, b) => a + b, 0));
  });

  it('come one message per increment, and those a worker that stops midway did not send are read here', async () => {
    const m = compileMasks(['*.md']);
    const want: CatalogWant = { current: m, records: m, recordsSpec: { masks: ['*.md'] } };
    assert.ok(ids.length >= 2, 'more than one increment');
    const asText = readIncrements(realFs, dist, m, { recordText: true });
    const first = ids[0] as string;
    const one = sent([first, asText.get(first) as NonNullable<ReturnType<typeof asText.get>>]);
    // A worker that sends the first increment, as ours sends each, then ends without its last message.
    const midway = join(root, 'midway-worker.mjs');
    fs.writeFileSync(midway, `import { parentPort } from 'node:worker_threads';\nparentPort.postMessage([${JSON.stringify(one)}]);\n`);
    const partial = await readIncrementsElsewhere(midway, dist, { masks: ['*.md'] });
    assert.deepEqual(partial, new Map([[first, readIncrements(realFs, dist, m).get(first)]]), 'what it sent is taken');
    assert.deepEqual(await readCatalogSharing(realFs, dist, want, Promise.resolve(partial)), readCatalog(realFs, dist, want));
    // The same, then its last message, then one more that must change nothing: the answer is what it
    // sent before its last message, given without waiting for the thread to end (it ends only once
    // released, taking the release file away, or after 20 s).
    const done = join(root, 'done-worker.mjs');
    const release = join(root, 'release-done-worker');
    const second = ids[1] as string;
    const late = sent([second, asText.get(second) as NonNullable<ReturnType<typeof asText.get>>]);
    fs.writeFileSync(
      done,
      `import { parentPort } from 'node:worker_threads';\nimport { existsSync, rmSync } from 'node:fs';\n` +
        `parentPort.postMessage([${JSON.stringify(one)}]);\nparentPort.postMessage('done');\nparentPort.postMessage([${JSON.stringify(late)}]);\n` +
        `const nap = new Int32Array(new SharedArrayBuffer(4));\n` +
        `for (let i = 0; i < 1000 && !existsSync(${JSON.stringify(release)}); i++) Atomics.wait(nap, 0, 0, 20);\n` +
        `rmSync(${JSON.stringify(release)}, { force: true });\n`,
    );
    const started = Date.now();
    try {
      const answer = await readIncrementsElsewhere(done, dist, { masks: ['*.md'] });
      assert.ok(Date.now() - started < 15000, 'answered on its last message, not when the thread ended');
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(answer, partial, 'what came after the last message changed nothing');
    } finally {
      fs.writeFileSync(release, '');
      // Released before this file's folder is removed: the worker takes the file away once it has seen it.
      for (let i = 0; i < 500 && fs.existsSync(release); i++) await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('are sent by the worker one message per increment, as read, then a last message', () => {
    const m = compileMasks(['*.md']);
    const out: unknown[] = [];
    runCatalogWorker({ hardbackRole: 'catalog', dist, records: { masks: ['*.md'] } }, { postMessage: (v) => out.push(structuredClone(v)) }, realFs);
    assert.equal(out.at(-1), 'done');
    const each = out.slice(0, -1) as Sent[][];
    assert.deepEqual(
      each.map((batch) => batch.length),
      ids.map(() => 1),
      'one increment a message',
    );
    assert.deepEqual(new Map(each.map((batch) => taken(batch[0] as Sent))), readIncrements(realFs, dist, m));
  });

  it('are read here when the worker cannot start or fails', async () => {
    const m = compileMasks(['*.md']);
    const want: CatalogWant = { current: m, records: m, recordsSpec: { masks: ['*.md'] } };
    // A worker whose records do not parse (ours cannot send such text): read here all the same.
    const garbled = join(root, 'garbled-worker.mjs');
    const read = { value: { id: ids[0], json: { format: 1, id: ids[0], new: [], changed: [], deleted: [] } }, problems: [] };
    fs.writeFileSync(garbled, `import { parentPort } from 'node:worker_threads';\nparentPort.postMessage([[${JSON.stringify(ids[0])}, ${JSON.stringify(read)}, { new: '{"path":' }]]);\n`);
    for (const script of [join(root, 'no-such-script.js'), join(REPO, 'package.json'), garbled]) {
      const early = readIncrementsElsewhere(script, dist, { masks: ['*.md'] });
      assert.equal(await early, undefined);
      assert.deepEqual(await readCatalogSharing(realFs, dist, want, early), readCatalog(realFs, dist, want));
    }
  });
});

describe('manifest lines checked without decoding them', () => {
  // The old reader: decode every entry, check it, name the damaged ones.
  function reference(): { current: Map<string, StateEntry>; problems: string[] } {
    const current = new Map<string, StateEntry>();
    const problems: string[] = [];
    let m;
    try {
      m = readManifest(realFs, layout.manifest);
    } catch {
      return { current, problems: ['refused'] };
    }
    for (const path of m.entries.keys()) {
      let e: StateEntry | undefined;
      try {
        e = m.entries.get(path);
      } catch (err) {
        problems.push(`${layout.manifest}: entry skipped: ${errorMessage(err)}`);
        continue;
      }
      const bad = checkRecord(e) ?? (e?.since !== undefined && !isIncrementId(e.since) ? `${path}: bad since` : undefined);
      if (bad === undefined && e !== undefined) current.set(path, e);
      else problems.push(`${layout.manifest}: entry skipped: ${bad ?? 'unreadable'}`);
    }
    return { current, problems };
  }

  it('accept exactly the entries a decode accepts, on thousands of random edits', () => {
    const original = fs.readFileSync(layout.manifest, 'latin1');
    const lines = original.split('\n');
    const rng = makeRng(5);
    const alphabet = '0123456789abcdefzZT-:\t"\\/.ldfx ';
    try {
      for (let i = 0; i < 3000; i++) {
        const edited = [...lines];
        const at = 1 + Math.floor(rng() * (lines.length - 2));
        let line = edited[at] as string;
        for (let k = 0; k < 1 + Math.floor(rng() * 2); k++) {
          const pos = Math.floor(rng() * line.length);
          const ch = alphabet[Math.floor(rng() * alphabet.length)] as string;
          const kind = rng();
          line = kind < 0.33 ? line.slice(0, pos) + line.slice(pos + 1) : kind < 0.66 ? line.slice(0, pos) + ch + line.slice(pos) : line.slice(0, pos) + ch + line.slice(pos + 1);
        }
        edited[at] = line;
        fs.writeFileSync(layout.manifest, edited.join('\n'), 'latin1');
        const want: CatalogWant = { current: () => true, records: () => false };
        let got: { current: Map<string, StateEntry>; problems: string[] };
        try {
          const c = readCatalog(realFs, dist, want);
          got = { current: c.current, problems: c.problems.filter((p) => p.startsWith(layout.manifest)) };
          if (c.header === undefined) got = { current: got.current, problems: ['refused'] };
        } catch (err) {
          assert.fail(`line ${JSON.stringify(line)}: ${errorMessage(err)}`);
        }
        const ref = reference();
        assert.deepEqual(got, ref, `line ${JSON.stringify(line)}`);
        // Nothing wanted: the lines pass the one test instead of a decode, with the same problems.
        const none = readCatalog(realFs, dist, { current: () => false, records: () => false });
        const problems = none.header === undefined ? ['refused'] : none.problems.filter((p) => p.startsWith(layout.manifest));
        assert.deepEqual(problems, ref.problems, `line ${JSON.stringify(line)}, nothing wanted`);
      }
    } finally {
      fs.writeFileSync(layout.manifest, original, 'latin1');
    }
  });
});

describe('isSafeRelPath', () => {
  // The definition, segment by segment.
  // A backslash and a drive letter are a separator and a root only on Windows.
  const win = process.platform === 'win32';
  function reference(p: string): boolean {
    if (p.length === 0 || p.length > 4096) return false;
    if (p.includes('\0') || (win && p.includes('\\'))) return false;
    if (p.startsWith('/') || (win && /^[A-Za-z]:/.test(p))) return false;
    return p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
  }

  it('agrees with its definition on random paths', () => {
    const rng = makeRng(7);
    const alphabet = ['a', 'b', '.', '..', '/', '\\', '\0', ':', 'C', 'é', ' '];
    for (let i = 0; i < 20000; i++) {
      let p = '';
      const n = Math.floor(rng() * 8);
      for (let k = 0; k < n; k++) p += alphabet[Math.floor(rng() * alphabet.length)];
      assert.equal(isSafeRelPath(p), reference(p), JSON.stringify(p));
    }
    for (const p of ['a'.repeat(4096), 'a'.repeat(4097), 'a/...', '...', '.a/b.', 'C:', 'c:x', '1:x', 'a/b/', '/']) {
      assert.equal(isSafeRelPath(p), reference(p), JSON.stringify(p));
    }
    assert.equal(isSafeRelPath(7), false);
    assert.equal(isSafeRelPath(undefined), false);
  });
});

describe('isoFromNs', () => {
  // The definition: the ISO time of the nanoseconds divided by 1e6 (truncated), the epoch when out of range.
  const reference = (ns: string): string => {
    const d = new Date(Number(BigInt(ns) / 1_000_000n));
    return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
  };

  it('agrees with its definition', () => {
    const rng = makeRng(11);
    const cases = ['0', '-0', '5', '-5', '999999', '-999999', '1000000', '-1000000', '-1500000', '1764088739123456789', '1764088739999999999', '-1764088739123456789', '000001764088739123456789', '99999999999999999999999', '8640000000000000000000', '8640000000000001000000'];
    // Where the hand-made formatting (years 1970–9999) begins and ends, and leap days on its way.
    cases.push('999999', '253402300799999999999', '253402300800000000000', '951782400000000000', '951868799999999999', '4107542400000000000', '4107456000000000000', '68169600000000000', '946684799999000000');
    for (let day = 0; day < 2_932_897; day += 997) cases.push(`${BigInt(day) * 86_400_000_000_000n + BigInt(day % 86_400_000) * 1_000_000n}`);
    for (let i = 0; i < 5000; i++) {
      const digits = 1 + Math.floor(rng() * 24);
      let s = rng() < 0.2 ? '-' : '';
      for (let k = 0; k < digits; k++) s += String(Math.floor(rng() * 10));
      cases.push(s);
    }
    for (const ns of cases) assert.equal(isoFromNs(ns), reference(ns), ns);
  });
});
