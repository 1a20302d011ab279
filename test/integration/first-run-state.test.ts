import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Layout } from '../../src/store/layout.js';
import { faultyFs } from '../helpers/faulty-fs.js';
import { makeTree, removeDir, tempDir } from '../helpers/tree.js';
import { listIncrements, readIncrement } from '../helpers/fault-check.js';
import { backup } from '../helpers/fault-scenario.js';

/**
 * A run with no manifest at all is a first run, and walks the source while it stores it
 * (apply/run.ts prepareWalk). Anything else on the drive goes through the plan, which reads the
 * manifest and refuses a damaged one: it must never be taken for a first run, which would write a
 * fresh manifest over it and leave what it recorded (deletions, a delta) unaccounted for.
 */

let work = '';
before(() => {
  work = tempDir('hb-firststate-');
});
after(() => removeDir(work));

const T1 = new Date('2026-05-01T10:00:00.000Z');
const T2 = new Date('2026-05-01T11:00:00.000Z');
const T3 = new Date('2026-05-01T12:00:00.000Z');

/** Every file under .hardback (but the lock and tmp/), with its bytes. */
function stateFiles(dist: string): Record<string, string> {
  const layout = new Layout(dist);
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(layout.state)) {
    const p = join(layout.state, name);
    if (fs.statSync(p).isFile() && name !== 'lock') out[name] = fs.readFileSync(p, 'latin1');
  }
  return out;
}

async function twoRuns(name: string): Promise<{ src: string; dist: string; layout: Layout }> {
  const src = join(work, name, 'src');
  const dist = join(work, name, 'dist');
  const files: Record<string, string> = {};
  for (let i = 0; i < 40; i++) files[`d${i % 4}/f${i}.txt`] = `content ${i}\n`;
  makeTree(src, files);
  await backup(src, dist, { at: T1 });
  // A small change: the manifest is written as a delta beside its base.
  fs.writeFileSync(join(src, 'd0/f0.txt'), 'changed\n');
  fs.rmSync(join(src, 'd1/f1.txt'));
  await backup(src, dist, { at: T2 });
  return { src, dist, layout: new Layout(dist) };
}

describe('a damaged manifest is refused, never taken for a first run', () => {
  const damages: [string, (l: Layout) => void][] = [
    ['its header is not JSON', (l) => fs.writeFileSync(l.manifest, fs.readFileSync(l.manifest, 'utf8').replace(/^[^\n]*/, '{not json'))],
    ['it is empty', (l) => fs.writeFileSync(l.manifest, '')],
    ['its format is unknown', (l) => fs.writeFileSync(l.manifest, fs.readFileSync(l.manifest, 'utf8').replace('"format":2', '"format":99'))],
    ['its delta names another base', (l) => fs.writeFileSync(l.manifestDelta, fs.readFileSync(l.manifestDelta, 'utf8').replace(/"base":"[0-9a-f]/, '"base":"x'))],
    ['only its delta is left', (l) => fs.rmSync(l.manifest)],
  ];
  for (const [what, damage] of damages) {
    it(`${what}: the run fails and changes nothing in .hardback`, async () => {
      const { src, dist, layout } = await twoRuns(what.replace(/\W+/g, '-'));
      assert.ok(fs.existsSync(layout.manifestDelta), 'the second run wrote a delta');
      damage(layout);
      fs.writeFileSync(join(src, 'new.txt'), 'new\n');
      const before = stateFiles(dist);
      const increments = listIncrements(dist);
      await assert.rejects(backup(src, dist, { at: T3 }), /manifest|delta/i);
      assert.deepEqual(stateFiles(dist), before);
      assert.deepEqual(listIncrements(dist), increments);
    });
  }
});

describe('a walked first run that stops records the walk errors it had found', () => {
  it('an unreadable folder, then a full drive: the incomplete increment lists the folder', async () => {
    const src = join(work, 'walk-errors', 'src');
    const dist = join(work, 'walk-errors', 'dist');
    const files: Record<string, string> = { 'locked/secret.txt': 'secret\n' };
    for (let i = 0; i < 20; i++) files[`open/f${i}.txt`] = `open ${i}\n`;
    makeTree(src, files);
    const faulty = faultyFs({
      readdirSync: (p) => String(p).endsWith('/locked') && 'EACCES',
      // The 5th version put in place fills the drive: the walk has ended by then (one batch).
      renameSync: (p, n) => String(p).includes('/.hardback/tmp/') && n >= 5 && 'ENOSPC',
    });
    await assert.rejects(backup(src, dist, { at: T1, fs: faulty }), /full/);
    const [id] = listIncrements(dist);
    assert.ok(id !== undefined, 'the stopped run keeps an incomplete increment');
    const inc = readIncrement(dist, id);
    assert.ok(inc.ok, inc.ok ? '' : inc.reason);
    assert.equal(inc.value.complete, false);
    assert.ok(inc.value.new.length > 0, 'what was stored is listed');
    assert.deepEqual(
      inc.value.errors.map((e) => [e.path, e.code]),
      [['locked', 'EACCES']],
    );
  });
});
