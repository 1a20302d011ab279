/**
 * The scan's worker thread (src/scan/parallel.ts) beyond the even split the e2e test covers: this
 * thread takes the names of the worker's share the worker has not reached (ShareClaims), a worker
 * that fails leaves its claimed names to this thread, and once the scan is done the copies of the
 * same run take the worker over (ThreadPair `adopt`) instead of starting one. Worker scripts here
 * wrap the built program, to delay it, make it fail, or log what crosses to it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { runBackup } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { realFs, type Fs } from '../../src/io/fs.js';
import type { IncrementJson } from '../../src/meta/increment.js';
import { compileSelection } from '../../src/select/rules.js';
import { scanSource, type ScanResult } from '../../src/scan/walk.js';
import { startParallelScan, workerShare } from '../../src/scan/parallel.js';
import { Layout, manifestIndexOf } from '../../src/store/layout.js';
import { readHashedManifest, readManifest } from '../../src/store/manifest.js';
import type { StateComparison } from '../../src/store/state-table.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import { faultyFs } from '../helpers/faulty-fs.js';
import { profileFor, readTree, removeDir, tempDir, treeView } from '../helpers/tree.js';

const TOPS = 8;
const FILES_PER_TOP = 800;

/** A run of `src` into `dist` as the program makes it, with `workerScript` as its worker. */
const backup = (from: string, to: string, workerScript: string) =>
  runBackup(profileFor(from, to), { dryRun: false, force: false, checksum: false, reporter: silentReporter, workerScript });

let root = '';
let src = '';
let dist = '';
let backupJs = '';
before(async () => {
  backupJs = ensureBuilt();
  root = tempDir('hb-scanworker-');
  src = join(root, 'src');
  dist = join(root, 'dist');
  // 5,280 files in 8 top-level folders: enough recorded entries for a run to scan on two threads
  // (run.ts SCAN_WORKER_MIN_ENTRIES), and folders of different sizes, so the shares have an order.
  for (let d = 0; d < TOPS; d++) {
    for (let f = 0; f < FILES_PER_TOP - d * 40; f++) {
      const dir = join(src, `top${d}`, `sub${f % 5}`);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(join(dir, `f${f}.txt`), `${d}/${f}`);
    }
  }
  const first = await backup(src, dist, backupJs);
  assert.equal(first.status, 'done');
});
after(() => removeDir(root));

/**
 * A worker script: logs each start (with its role), each message it gets and each answer it sends
 * to `log`, runs `before` (JavaScript) first, then is the built program.
 */
function wrapper(name: string, log: string, before = ''): string {
  const file = join(root, `${name}.cjs`);
  fs.writeFileSync(
    file,
    `const { parentPort, workerData } = require('node:worker_threads');
     const fs = require('node:fs');
     const log = (s) => fs.appendFileSync(${JSON.stringify(log)}, s + '\\n');
     log('start ' + workerData.hardbackRole);
     parentPort.on('message', (m) => log(m && m.hardbackNextRole ? 'next ' + m.hardbackNextRole.hardbackRole : m && m.jobs ? 'batch ' + m.jobs.src.length : 'other'));
     const post = parentPort.postMessage.bind(parentPort);
     parentPort.postMessage = (v) => {
       log(v && Array.isArray(v.walked) ? 'scanned ' + v.walked.length : v && Array.isArray(v.done) ? 'answer ' + (v.done.length + v.faults.length) : 'posted');
       post(v);
     };
     ${before}
     require(${JSON.stringify(backupJs)});`,
  );
  return file;
}

const logLines = (log: string): string[] => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []);

/** Edits in every top-level folder, so both threads' shares have some. */
function editSource(round: number): { changed: string[]; added: string[]; deleted: string[] } {
  const changed: string[] = [];
  const added: string[] = [];
  const deleted: string[] = [];
  for (let d = 0; d < TOPS; d++) {
    for (let f = 0; f < 40; f++) {
      const rel = `top${d}/sub${f % 5}/f${f}.txt`;
      fs.writeFileSync(join(src, rel), `round ${round}: ${'x'.repeat(f + round)}`);
      changed.push(rel);
    }
    const add = `top${d}/added-${round}.txt`;
    fs.writeFileSync(join(src, add), 'new');
    added.push(add);
    const del = `top${d}/sub2/f${102 + 5 * round}.txt`;
    fs.rmSync(join(src, del));
    deleted.push(del);
  }
  return { changed: changed.sort(), added: added.sort(), deleted: deleted.sort() };
}

/** The scan on this thread alone, compared with the manifest on the drive: what the two threads must give. */
function oneThread(): Scanned {
  const compared = readManifest(realFs, new Layout(dist).manifest).entries.compare();
  const result = scanSource(realFs, src, { selector: compileSelection({}), unchangedAgainst: compared });
  return { result, unseen: [...compared.unseen()].sort(), compared };
}

interface Scanned {
  result: ScanResult;
  unseen: string[];
  compared: StateComparison;
}

/**
 * startParallelScan with `workerScript`, compared with the manifest as a run does; this thread's
 * walk starts once `ready` settles.
 */
async function twoThreads(workerScript: string, ready?: () => Promise<void>, fs: Fs = realFs): Promise<Scanned> {
  const layout = new Layout(dist);
  const manifest = readManifest(realFs, layout.manifest);
  const weights = manifest.header?.top;
  const parallel = startParallelScan(fs, src, { rules: {}, skipDir: undefined, workerScript, weights, manifest: layout.manifest });
  assert.ok(parallel !== undefined, 'the source has a share for the worker');
  const compared = manifest.entries.compare();
  try {
    await ready?.();
    const result = await parallel.finish({ selector: compileSelection({}), unchangedAgainst: compared });
    return { result, unseen: [...compared.unseen()].sort(), compared };
  } finally {
    void parallel.takeWorker()?.terminate();
  }
}

const paths = (r: ScanResult): string[] => r.entries.map((e) => e.path).sort();
/** The recorded files --checksum hashes after this scan. */
function hashed(s: Scanned): string[] {
  const found = s.compared.foundFiles(new Set(paths(s.result)));
  return Array.from({ length: found.count }, (_, k) => found.at(k).path).sort();
}
/** Recorded paths the scan neither found as recorded nor sent as an entry: gone from the source. */
function gone(s: { result: ScanResult; unseen: string[] }): string[] {
  const sent = new Set(paths(s.result));
  return s.unseen.filter((p) => !sent.has(p));
}

describe('the scan on two threads', () => {
  it('takes the names of the worker share the worker has not reached: a worker slow to start walks none, and the result is the one-thread scan', async () => {
    const edits = editSource(1);
    const log = join(root, 'slow.log');
    // Busy for 1.5 s before it even loads the program: this thread walks its own share and then
    // claims every name of the worker's.
    const slow = wrapper('slow', log, 'const t = Date.now(); while (Date.now() - t < 1500);');
    const want = oneThread();
    const got = await twoThreads(slow);
    assert.deepEqual(logLines(log), ['start scan', 'scanned 0'], 'the worker found every name of its share taken');
    assert.deepEqual(paths(got.result), paths(want.result));
    assert.deepEqual(got.unseen, want.unseen, 'the same recorded paths are left unseen (changed or gone)');
    assert.deepEqual(gone(got), edits.deleted);
    assert.deepEqual(got.result.errors, []);
    assert.deepEqual(got.result.unreadable, []);
  });

  it('a worker that claimed names and died: this thread walks them, and the result is the one-thread scan', async () => {
    editSource(2);
    const log = join(root, 'dying.log');
    // Claims every name of its share, then exits without an answer; this thread starts walking
    // only then, so it finds them all taken.
    const dying = wrapper('dying', log, "new Int32Array(workerData.claims).fill(1); log('claimed'); process.exit(3);");
    const want = oneThread();
    const got = await twoThreads(dying, async () => {
      for (let i = 0; i < 500 && !logLines(log).includes('claimed'); i++) await sleep(10);
    });
    assert.deepEqual(logLines(log), ['start scan', 'claimed']);
    assert.deepEqual(paths(got.result), paths(want.result));
    assert.deepEqual(got.unseen, want.unseen);
    assert.ok(paths(want.result).length > 0 && want.unseen.length > 0, 'the edits show in both');
  });

  it('a worker that walks its whole share: with what this thread walked, the one-thread scan', async () => {
    const edits = editSource(3);
    const log = join(root, 'plain.log');
    const want = oneThread();
    // This thread walks once the worker has answered: every name of the share is the worker's.
    const got = await twoThreads(wrapper('plain', log), async () => {
      for (let i = 0; i < 500 && logLines(log).length < 2; i++) await sleep(10);
    });
    const lines = logLines(log);
    assert.equal(lines[0], 'start scan');
    const walked = Number(/^scanned (\d+)$/.exec(lines[1] ?? '')?.[1]);
    assert.ok(walked > 0, `the worker walked its share (${lines[1]})`);
    assert.deepEqual(paths(got.result), paths(want.result));
    // The worker marks what it sends as found (the plan compares it): what is gone is the same.
    assert.deepEqual(gone(got), gone(want));
    for (const d of edits.deleted) assert.ok(gone(got).includes(d), d);
    // What --checksum hashes (apply/run.ts): the files marked found but for the entries sent. The
    // worker's whole share is marked found here (foundElsewhere), what it sent included.
    // That is every recorded file the one-thread scan neither sent nor left unseen.
    const sent = new Set([...paths(want.result), ...want.unseen]);
    const asRecorded = [...readManifest(realFs, new Layout(dist).manifest).entries.values()].filter((e) => e.type === 'file' && !sent.has(e.path)).map((e) => e.path);
    assert.ok(asRecorded.length > 4000, `${asRecorded.length} files as recorded`);
    assert.deepEqual(hashed(want), asRecorded.sort());
    assert.deepEqual(hashed(got), hashed(want));
    for (const c of edits.changed) assert.ok(!hashed(got).includes(c), c);
  });

  it("a worker that compares through the manifest index's hashes, a delta applied: the one-thread scan, as a worker reading text gives it", async () => {
    // A run records the edits so far: it reads the base in full (there is no index yet), writes a
    // delta beside it, and leaves the base's index.
    editSource(6);
    assert.equal((await backup(src, dist, backupJs)).status, 'done');
    const layout = new Layout(dist);
    assert.ok(fs.existsSync(layout.manifestDelta), 'a delta beside the base');
    assert.ok(readHashedManifest(realFs, layout.manifest) !== undefined, 'an index the worker compares through');
    const edits = editSource(7);
    // Paths the delta records as deleted (round 6's), back in the source in every share.
    const back = Array.from({ length: TOPS }, (_, d) => `top${d}/sub2/f132.txt`);
    for (const rel of back) fs.writeFileSync(join(src, rel), 'back');
    const want = oneThread();
    /** The worker's answer logged as it is sent: marks by slot, or the paths it did not find. */
    const scan = async (name: string): Promise<{ got: Scanned; lines: string[] }> => {
      const log = join(root, `${name}.log`);
      const script = wrapper(name, log, "const sent = parentPort.postMessage; parentPort.postMessage = (v) => { log(v && v.found ? 'marks ' + v.found.slots : 'paths'); sent(v); };");
      // This thread walks once the worker has answered: every name of the share is the worker's.
      const got = await twoThreads(script, async () => {
        for (let i = 0; i < 500 && !logLines(log).some((l) => l.startsWith('scanned')); i++) await sleep(10);
      });
      return { got, lines: logLines(log) };
    };
    const viaHashes = await scan('hashes');
    const slots = readManifest(realFs, layout.manifest).entries.slots();
    assert.deepEqual(viaHashes.lines.slice(0, 2), ['start scan', `marks ${slots}`], 'the worker sent marks for every slot');
    assert.ok(Number(/^scanned (\d+)$/.exec(viaHashes.lines[2] ?? '')?.[1]) > 0, 'and walked its share');
    const index = manifestIndexOf(layout.manifest);
    const saved = fs.readFileSync(index);
    fs.rmSync(index);
    const viaText = await scan('text');
    fs.writeFileSync(index, saved);
    assert.equal(viaText.lines[1], 'paths', 'without the index, the worker read its share as text');
    for (const { got } of [viaHashes, viaText]) {
      assert.deepEqual(paths(got.result), paths(want.result));
      for (const rel of [...edits.changed, ...edits.added, ...back]) assert.ok(paths(got.result).includes(rel), `${rel} is sent`);
      assert.deepEqual(gone(got), gone(want));
      for (const d of edits.deleted) assert.ok(gone(got).includes(d), d);
      // What --checksum hashes: every file found as recorded, in both shares.
      assert.ok(hashed(got).length > 4000);
      assert.deepEqual(hashed(got), hashed(want));
    }
  });

  it('marks the main thread does not take (of another manifest than its own): the names the worker walked are walked again here, for the one-thread scan', async () => {
    const edits = editSource(8);
    assert.ok(readHashedManifest(realFs, new Layout(dist).manifest) !== undefined, 'the index the worker compares through');
    const log = join(root, 'forged.log');
    // Every slot marked found, of another base: taken, they would hide every deletion in its share.
    const forged = wrapper('forged', log, "const sent = parentPort.postMessage; parentPort.postMessage = (v) => { if (v && v.found) { v.found.base = 'another'; v.found.marks.fill(1); log('forged'); } sent(v); };");
    const want = oneThread();
    const got = await twoThreads(forged, async () => {
      for (let i = 0; i < 500 && !logLines(log).some((l) => l.startsWith('scanned')); i++) await sleep(10);
    });
    const lines = logLines(log);
    assert.equal(lines[1], 'forged');
    assert.ok(Number(/^scanned (\d+)$/.exec(lines[2] ?? '')?.[1]) > 0, 'the worker walked names of its share');
    assert.deepEqual(paths(got.result), paths(want.result));
    assert.deepEqual(gone(got), gone(want));
    for (const d of edits.deleted) assert.ok(gone(got).includes(d), d);
    assert.deepEqual(hashed(got), hashed(want));
  });

  it('a source folder that cannot be listed again: what is recorded below the names nobody walked is kept, and the error is reported once', async () => {
    // The worker dies at once; this thread lists the source for its own share, then fails to list
    // it again to take the worker's names, and once more to walk them after the worker died.
    const dying = wrapper('dead', join(root, 'dead.log'), 'process.exit(3);');
    let listings = 0;
    const failing = faultyFs({ readdirSync: (p) => String(p) === src && ++listings >= 3 && 'EIO' });
    const got = await twoThreads(dying, undefined, failing);
    assert.equal(listings, 4, 'listed for the split, the own share, the worker\'s names, the rest');
    const share = workerShare(fs.readdirSync(src), readManifest(realFs, new Layout(dist).manifest).header?.top);
    assert.ok(share.size > 0);
    assert.deepEqual(got.result.unreadable.slice().sort(), [...share].sort(), "the worker's names, which nobody walked");
    assert.deepEqual(
      got.result.errors.map((e) => `${e.path} ${e.code}`),
      ['. EIO'],
    );
  });

  it("a worker that cannot list the source once: this thread walks its names, and nothing is unreadable", async () => {
    editSource(5);
    const log = join(root, 'blind.log');
    // The worker's first listing of the source fails (a network share's moment, say).
    const blind = wrapper(
      'blind',
      log,
      `const fsm = require('node:fs');
       const orig = fsm.readdirSync;
       let failed = false;
       fsm.readdirSync = function (p, ...rest) {
         if (!failed && String(p) === ${JSON.stringify(src)}) {
           failed = true;
           throw Object.assign(new Error('EIO: injected'), { code: 'EIO' });
         }
         return orig.call(this, p, ...rest);
       };`,
    );
    const want = oneThread();
    const got = await twoThreads(blind);
    assert.deepEqual(logLines(log), ['start scan', 'scanned 0'], 'the worker walked none of its names');
    assert.deepEqual(got.result.unreadable, [], 'every name was walked, here');
    assert.deepEqual(got.result.errors, []);
    assert.deepEqual(paths(got.result), paths(want.result));
    assert.deepEqual(gone(got), gone(want), 'what is gone is planned as deleted');
  });
});

describe('the copies of a run that scanned on two threads', () => {
  it('are shared with the scan worker, taken over once it has answered: one worker for the whole run', async () => {
    // The edits of the tests above are backed up first: the run below has exactly this round's.
    await backup(src, dist, backupJs);
    const edits = editSource(4);
    const log = join(root, 'run.log');
    const outcome = await backup(src, dist, wrapper('run', log));
    assert.equal(outcome.status, 'done');
    const lines = logLines(log);
    assert.deepEqual(lines.filter((l) => l.startsWith('start')), ['start scan'], 'no second worker was started');
    const copies = edits.changed.length + edits.added.length;
    assert.deepEqual(
      lines.filter((l) => !l.startsWith('answer')).slice(1).map((l) => l.replace(/\d+$/, 'N')),
      ['scanned N', 'next copy', 'batch N'],
      'the worker answered the scan, was given the copies, and got their batch',
    );
    assert.ok(lines.includes(`batch ${copies}`), `one batch of all ${copies} copies`);
    assert.equal(lines.filter((l) => l.startsWith('answer')).length, 1, 'and answered it');
    // What the run stored is right, whichever thread copied it.
    const inc = JSON.parse(fs.readFileSync(new Layout(dist).incrementJson(String(outcome.id)), 'utf8')) as IncrementJson;
    assert.deepEqual(inc.changed.map((r) => r.path).sort(), edits.changed);
    assert.deepEqual(inc.new.map((r) => r.path).sort(), edits.added);
    assert.deepEqual(inc.deleted.map((r) => r.path).sort(), edits.deleted);
    for (const r of [...inc.changed, ...inc.new]) {
      assert.equal(r.sha256, createHash('sha256').update(fs.readFileSync(join(src, r.path))).digest('hex'), r.path);
    }
    const mirror = treeView(readTree(join(dist, 'mirror')));
    assert.deepEqual(mirror, treeView(readTree(src)), 'the mirror equals the source');
  });

  it('a run with nothing to copy (but empty files to make) does not give the worker a next role', async () => {
    // Deletions, and new empty files: a plan, but no bytes to copy.
    for (let d = 0; d < TOPS; d++) {
      fs.rmSync(join(src, `top${d}`, 'sub3', 'f3.txt'));
      fs.writeFileSync(join(src, `top${d}`, 'empty.txt'), '');
    }
    const log = join(root, 'nocopy.log');
    const outcome = await backup(src, dist, wrapper('nocopy', log));
    assert.equal(outcome.status, 'done');
    assert.equal(outcome.summary.deleted, TOPS);
    assert.equal(outcome.summary.new, TOPS);
    for (let d = 0; d < TOPS; d++) assert.equal(fs.readFileSync(join(dist, 'mirror', `top${d}`, 'empty.txt'), 'utf8'), '');
    const lines = logLines(log);
    assert.equal(lines[0], 'start scan');
    assert.match(lines[1] ?? '', /^scanned \d+$/);
    assert.equal(lines.length, 2, 'no next role, no batch');
  });
});

describe('a run whose scan finds a plan of 20,000 entries or more', () => {
  it("stops the scan's worker before planning, and its copies start a worker of their own", async (t) => {
    const big = tempDir('hb-scanworker-big-');
    t.after(() => removeDir(big));
    const bsrc = join(big, 'src');
    const bdist = join(big, 'dist');
    // One folder of 20,100 files, moved: that many new paths to plan (linked, not copied); and 300
    // changed files in two small folders, copied.
    for (let s = 0; s < 20; s++) {
      fs.mkdirSync(join(bsrc, 'big', `s${s}`), { recursive: true });
      for (let f = 0; f < 1005; f++) fs.writeFileSync(join(bsrc, 'big', `s${s}`, `f${f}`), `${s}/${f}`);
    }
    for (const o of ['o1', 'o2']) {
      fs.mkdirSync(join(bsrc, o));
      for (let f = 0; f < 150; f++) fs.writeFileSync(join(bsrc, o, `f${f}`), `${o}/${f}`);
    }
    const first = await backup(bsrc, bdist, backupJs);
    assert.equal(first.status, 'done');
    fs.renameSync(join(bsrc, 'big'), join(bsrc, 'moved'));
    let changedBytes = 0;
    for (const o of ['o1', 'o2']) {
      for (let f = 0; f < 150; f++) {
        fs.writeFileSync(join(bsrc, o, `f${f}`), `changed ${o}/${f}`);
        changedBytes += `changed ${o}/${f}`.length;
      }
    }
    const log = join(big, 'run.log');
    const outcome = await backup(bsrc, bdist, wrapper('big', log));
    assert.equal(outcome.status, 'done');
    assert.equal(outcome.summary.changed, 300);
    assert.equal(outcome.summary.bytes_copied, changedBytes, 'the moved files linked, the changed ones copied');
    const lines = logLines(log).map((l) => l.replace(/\d+$/, 'N'));
    assert.deepEqual(lines.slice(0, 2), ['start scan', 'scanned N']);
    assert.ok(!lines.includes('next copy'), `the scan's worker was not given the copies: ${lines.join(', ')}`);
    assert.deepEqual(lines.slice(2, 4), ['start copy', 'batch N'], 'a worker of their own');

    // Moved back, with 300 new empty files (never move candidates: counted as copies, they would
    // start a copy worker, 256 being enough): made on this thread, no worker beside the move's plan.
    fs.renameSync(join(bsrc, 'moved'), join(bsrc, 'big'));
    for (let f = 0; f < 300; f++) fs.writeFileSync(join(bsrc, 'o1', `empty${f}`), '');
    const log2 = join(big, 'run2.log');
    const back = await backup(bsrc, bdist, wrapper('big2', log2));
    assert.equal(back.status, 'done');
    assert.deepEqual({ new: back.summary.new, bytes: back.summary.bytes_copied }, { new: 20_100 + 21 + 300, bytes: 0 });
    assert.deepEqual(logLines(log2).map((l) => l.replace(/\d+$/, 'N')), ['start scan', 'scanned N'], 'no copy worker');
    assert.equal(fs.readdirSync(join(bdist, 'mirror', 'o1')).filter((n) => n.startsWith('empty')).length, 300);
    assert.equal(fs.existsSync(join(bdist, 'mirror', 'moved')), false);
  });
});
