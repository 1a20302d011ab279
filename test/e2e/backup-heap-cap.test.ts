import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BACKUP_JS, removeDir, tempDir } from '../helpers/tree.js';
import { ensureBuilt } from '../helpers/fault-build.js';
import { CAP_HEAP_MIN_STORES } from '../../src/threads/heap.js';

/**
 * The built program caps the heap's growth, with one collection, only for a plan that stores at
 * least CAP_HEAP_MIN_STORES entries, and for every first run (walked), (src/threads/heap.ts). V8's
 * --trace-gc names a collection asked for through gc() "testing": counted here, in the bundle as
 * users run it; --trace-gc-verbose gives each space's size after each collection.
 */
function forcedCollections(cfg: string, o: { verbose?: boolean; oneCpu?: boolean } = {}): { code: number | null; forced: number; stderr: string; trace: string } {
  const args = ['--trace-gc', ...(o.verbose === true ? ['--trace-gc-verbose'] : []), BACKUP_JS, cfg, '--quiet'];
  const cpu = o.oneCpu === true ? firstCpu() : undefined;
  const [cmd, argv] = cpu === undefined ? [process.execPath, args] : ['taskset', ['-c', cpu, process.execPath, ...args]];
  // The trace goes to a file, as when a user redirects it (see oneCpu below for why it matters).
  const traceFile = join(dirname(cfg), 'trace-gc.txt');
  const fd = fs.openSync(traceFile, 'w');
  let r;
  try {
    r = spawnSync(cmd, argv, { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
  } finally {
    fs.closeSync(fd);
  }
  const trace = fs.readFileSync(traceFile, 'utf8');
  fs.unlinkSync(traceFile);
  const forced = trace.split('\n').filter((l) => /Mark-Compact.* testing/.test(l)).length;
  return { code: r.status, forced, stderr: r.stderr, trace };
}

/**
 * The first CPU this process may run on, for `taskset -c`; undefined without taskset (or without
 * /proc), and the run then uses every CPU it may.
 */
function firstCpu(): string | undefined {
  if (spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status !== 0) return undefined;
  try {
    return /^Cpus_allowed_list:\s*(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * The main thread's young generation while the cap holds, from --trace-gc-verbose: the "New space"
 * committed size (KB) after the forced collection ("testing", which names the main isolate by its
 * address), and after each of that isolate's collections up to its last full one made under the cap
 * (its "[HeapController] Limit: … (1.2)": growth capped at 20 %). Collections after that one may
 * come after the run put V8's defaults back, and are left out.
 */
function youngGeneration(trace: string): { at: number | undefined; after: number[]; capped: number } {
  const line = /^\[\d+:(0x[0-9a-f]+)\]\s+(.*)$/;
  let main: string | undefined;
  let at: number | undefined;
  const after: number[] = [];
  let upTo = 0;
  let capped = 0;
  for (const l of trace.split('\n')) {
    const m = line.exec(l);
    if (m === null) continue;
    const [, isolate, text] = m as unknown as [string, string, string];
    if (main === undefined) {
      if (/Mark-Compact.* testing/.test(text)) main = isolate;
      continue;
    }
    if (isolate !== main) continue;
    const young = /^New space,.*committed:\s*(\d+) KB$/.exec(text);
    if (young !== null) {
      if (at === undefined) at = Number(young[1]);
      else after.push(Number(young[1]));
    } else if (/^\d+ ms: \[HeapController\] Limit: .*\(1\.2\)$/.test(text)) {
      // This full collection's own "New space" line follows.
      upTo = after.length + 1;
      capped++;
    }
  }
  return { at, after: after.slice(0, upTo), capped };
}

test('the built program makes its one forced collection for a large plan only, and the run is right', (t) => {
  ensureBuilt();
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  const dirs = 40;
  const perDir = Math.ceil(CAP_HEAP_MIN_STORES / dirs) + 10;
  for (let d = 0; d < dirs; d++) {
    fs.mkdirSync(join(src, `d${d}`), { recursive: true });
    for (let f = 0; f < perDir; f++) fs.writeFileSync(join(src, `d${d}`, `f${f}`), `${d}/${f}`);
  }
  const cfg = join(root, 'config.json');
  fs.writeFileSync(cfg, JSON.stringify({ src: 'src', dist: 'dist' }));

  // Pinned to one CPU, the worker thread the run starts gets no time before the main thread stops
  // to wait for it: a cap set before the worker runs (src/apply/run.ts awaits copier.started() for
  // that) is then always undone by the worker's heap set-up, where on two CPUs that is a race the
  // worker often wins (and a stdout pipe to this process made it win most of the time).
  const first = forcedCollections(cfg, { verbose: true, oneCpu: true });
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.forced, 1, 'a first run of more than 20,000 files: one forced collection');
  // The first run is walked, with the copier's worker: its young generation keeps the size it had at
  // the forced collection (growth factor 1, set once the worker's isolate was configured, which sets
  // it back to 2). With factor 2 it doubles to 16 MiB halves within the run.
  const young = youngGeneration(first.trace);
  assert.ok(young.at !== undefined && young.at > 0, 'the forced collection\'s young generation is in the trace');
  assert.ok(young.capped >= 2 && young.after.length >= 5, `collections under the cap: ${young.capped} full, ${young.after.length} in all`);
  const grown = young.after.filter((kb) => kb > (young.at as number));
  assert.deepEqual(grown, [], `the main thread's young generation grew past ${young.at} KB during the run (${young.after.length} collections)`);
  assert.equal(fs.readFileSync(join(root, 'dist', 'mirror', 'd39', `f${perDir - 1}`), 'utf8'), `39/${perDir - 1}`);

  // A small change: no forced collection.
  fs.writeFileSync(join(src, 'd0', 'f0'), 'changed');
  const small = forcedCollections(cfg);
  assert.equal(small.code, 0, small.stderr);
  assert.equal(small.forced, 0, 'a plan of one entry: none');
  assert.equal(fs.readFileSync(join(root, 'dist', 'mirror', 'd0', 'f0'), 'utf8'), 'changed');
});
