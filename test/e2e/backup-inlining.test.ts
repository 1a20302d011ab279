import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BACKUP_JS, TOOL_JS, removeDir, tempDir } from '../helpers/tree.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import { INLINE_BUDGET } from '../../src/threads/jit.js';

/**
 * The built program caps V8's inlining for short work and lifts the cap for long work
 * (src/threads/jit.ts): seen in V8's trace of its inlining decisions (--trace-turbo-inlining), which
 * gives each candidate's bytecode size. Under the cap no callee larger than it is inlined; a first
 * run (long work: the walk stores every file) and the copies of a recreate inline some.
 *
 * The no-change run is traced on one thread: while a worker loads, the process runs under V8's
 * default by design (jit.ts workerStartsUncapped), and what the main thread compiles in those
 * ~50–100 ms depends on how fast the worker loads. That the cap comes back once it is loaded is
 * V8's own answer in test/unit/jit-workers.test.ts.
 */
interface Inlining {
  /** Candidates over the cap V8 considered. */
  consideredOver: number;
  /** Callees over the cap it inlined, by name. */
  inlinedOver: string[];
}

function inliningOf(trace: string): Inlining {
  // A function is named by its SharedFunctionInfo's address and name together: an address alone may
  // be reused after a collection moved the function, or by the other thread's heap.
  const sizes = new Map<string, number>();
  let consideredOver = 0;
  const inlinedOver: string[] = [];
  for (const line of trace.split('\n')) {
    const target = /target: 0x[0-9a-f]+ \{(0x[0-9a-f]+) <SharedFunctionInfo ?(.*?)>\}, bytecode size: (\d+)/.exec(line);
    if (target !== null) {
      sizes.set(`${target[1]} ${target[2]}`, Number(target[3]));
      if (Number(target[3]) > INLINE_BUDGET) consideredOver++;
      continue;
    }
    const inlined = /Inlining 0x[0-9a-f]+ \{(0x[0-9a-f]+) <SharedFunctionInfo ?(.*?)>\} into/.exec(line);
    if (inlined !== null && (sizes.get(`${inlined[1]} ${inlined[2]}`) ?? 0) > INLINE_BUDGET) inlinedOver.push(inlined[2] as string);
  }
  return { consideredOver, inlinedOver };
}

/**
 * The program run with V8's trace. Its compilations are made on the thread that asks for them
 * (--no-concurrent-recompilation, which jit.ts does not touch): one queued on a helper thread could
 * still be waiting when the process exits, and leave no trace; what is inlined is decided alike.
 */
function traced(script: string, args: string[]): Inlining {
  const r = spawnSync(process.execPath, ['--no-concurrent-recompilation', '--trace-turbo-inlining', script, ...args], { encoding: 'utf8', maxBuffer: 256 << 20, timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return inliningOf(r.stdout);
}

test('backup and backup-tool inline under the cap for short work (a no-change run, a search), as V8 would for long work (a first run, a recreate)', () => {
  ensureBuilt();
  const root = tempDir('hb-e2e-inline-');
  try {
    const src = join(root, 'src');
    // 6,400 files: over MIN_JOBS_FOR_WORKER, so the recreate copies on two threads.
    for (let d = 0; d < 8; d++) {
      for (let f = 0; f < 800; f++) {
        const dir = join(src, `top${d}`, `sub${f % 8}`);
        if (f < 8) fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(join(dir, `f${f}.txt`), `file ${d}/${f}\n`);
      }
    }
    const cfg = join(root, 'config.json');
    fs.writeFileSync(cfg, JSON.stringify({ src, dist: join(root, 'dist') }));
    const dist = join(root, 'dist');
    const first = traced(BACKUP_JS, [cfg, '--quiet']);
    assert.ok(first.inlinedOver.length > 0, 'a first run is long work: V8 inlines callees over the cap');
    // The premise of each "none": V8 did consider callees over the cap, so none inlined is the cap's doing.
    const oneThread = join(root, 'one-thread.json');
    fs.writeFileSync(oneThread, JSON.stringify({ src, dist, max_workers: 1 }));
    const again = traced(BACKUP_JS, [oneThread, '--quiet']);
    assert.ok(again.consideredOver > 0, 'the no-change run optimized calls to callees over the cap');
    assert.deepEqual(again.inlinedOver, [], 'a no-change run inlines none over the cap');
    const search = traced(TOOL_JS, [dist, 'search', '--mask', '*.txt']);
    assert.ok(search.consideredOver > 0, 'the search optimized calls to callees over the cap');
    assert.deepEqual(search.inlinedOver, [], 'a search inlines none over the cap');
    // Copied on two threads (src/restore/copy-files.ts).
    const recreate = traced(TOOL_JS, [dist, 'recreate', '--to', join(root, 'again')]);
    assert.ok(recreate.inlinedOver.length > 0, 'the copies of a recreate are long work: V8 inlines callees over the cap');
  } finally {
    removeDir(root);
  }
});
