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
 * users run it, the main thread's (`forced`) apart from the workers' (`forcedByWorkers`: the scan's
 * worker makes one once it has answered, src/bin/backup.ts);
 * --trace-gc-verbose gives each space's size after each collection.
 */
function forcedCollections(cfg: string, o: { verbose?: boolean; oneCpu?: boolean } = {}): { code: number | null; forced: number; forcedByWorkers: number; stderr: string; trace: string } {
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
  const main = mainIsolate(trace);
  const forcedBy = trace
    .split('\n')
    .filter((l) => /Mark-Compact.* testing/.test(l))
    .map((l) => /^\[\d+:(0x[0-9a-f]+)\]/.exec(l)?.[1]);
  const forced = forcedBy.filter((i) => i === main).length;
  return { code: r.status, forced, forcedByWorkers: forcedBy.length - forced, stderr: r.stderr, trace };
}

/**
 * The main thread's isolate in a --trace-gc trace: the one of its first line. The main thread's
 * first collections come as it loads the program, before it starts any worker, and its address
 * holds for the whole run (no other isolate can have it meanwhile).
 */
function mainIsolate(trace: string): string | undefined {
  return /^\[\d+:(0x[0-9a-f]+)\]/m.exec(trace)?.[1];
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
      if (/Mark-Compact.* testing/.test(text) && isolate === mainIsolate(trace)) main = isolate;
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

/**
 * The main thread's young generation through a whole run, from --trace-gc-verbose: the committed
 * size (KB) of each "New space" line of the main isolate, in order.
 *
 * The trace has an isolate per thread: the main one, the scan worker's, a copy worker's when one is
 * started (two workers, one after the other, may even have the same address). The main isolate is
 * the one of the trace's first line (mainIsolate). V8 writes a line's "[pid:isolate]" prefix and its
 * text separately, so lines of two threads may run together: a "New space" line without exactly one
 * prefix, at its start, is counted as the main thread's (the worst case for the bounds tested: a
 * worker's young generation is capped at 2 MiB, startWorker).
 */
function mainYoungGeneration(trace: string): { main: string | undefined; isolates: Set<string>; sizes: number[]; unclear: number } {
  const prefix = /\[\d+:(0x[0-9a-f]+)\]\s*/g;
  const parsed = trace.split('\n').map((l) => {
    const found = [...l.matchAll(prefix)];
    const only = found.length === 1 && found[0]?.index === 0 ? found[0] : undefined;
    return { isolate: only?.[1], text: only === undefined ? l.replace(prefix, '') : l.slice(only[0].length), prefixes: found.map((m) => m[1] as string) };
  });
  const isolates = new Set(parsed.flatMap((p) => p.prefixes));
  const main = mainIsolate(trace);
  const sizes: number[] = [];
  let unclear = 0;
  if (main === undefined) return { main, isolates, sizes, unclear };
  for (const p of parsed) {
    const young = /New space,.*committed:\s*(\d+) KB/.exec(p.text);
    if (young === null || (p.isolate !== undefined && p.isolate !== main)) continue;
    if (p.isolate === undefined) unclear++;
    sizes.push(Number(young[1]));
  }
  return { main, isolates, sizes, unclear };
}

test('a later run with a large move: the main thread\'s young generation is held through the run, and the run is right', async (t) => {
  ensureBuilt();
  const root = tempDir();
  t.after(() => removeDir(root));
  const src = join(root, 'src');
  // One top-level folder of more than CAP_HEAP_MIN_STORES entries (moved: a plan that large, linked
  // not copied), and four small ones with 320 files changed: more than the 256 copies that start the
  // copy worker (apply/run.ts WORKER_MIN_COPIES). With 20,000+ entries recorded and five top-level
  // names, the scan has its worker too.
  const subdirs = 20;
  const perDir = Math.ceil(CAP_HEAP_MIN_STORES / subdirs) + 10;
  for (let s = 0; s < subdirs; s++) {
    fs.mkdirSync(join(src, 'big', `s${s}`), { recursive: true });
    for (let f = 0; f < perDir; f++) fs.writeFileSync(join(src, 'big', `s${s}`, `f${f}`), `${s}/${f}`);
  }
  const small = ['o0', 'o1', 'o2', 'o3'];
  for (const o of small) {
    fs.mkdirSync(join(src, o));
    for (let f = 0; f < 100; f++) fs.writeFileSync(join(src, o, `f${f}`), `${o}/${f}`);
  }
  const cfg = join(root, 'config.json');
  fs.writeFileSync(cfg, JSON.stringify({ src: 'src', dist: 'dist' }));
  const first = forcedCollections(cfg);
  assert.equal(first.code, 0, first.stderr);

  fs.renameSync(join(src, 'big'), join(src, 'moved'));
  let changedBytes = 0;
  for (const o of small) {
    for (let f = 0; f < 80; f++) {
      const text = `changed ${o}/${f}`;
      fs.writeFileSync(join(src, o, `f${f}`), text);
      changedBytes += text.length;
    }
  }
  const moved = subdirs * perDir + subdirs + 1;
  assert.ok(moved >= CAP_HEAP_MIN_STORES);
  // Pinned to one CPU, as the first run above: the threads take turns, as on a busy machine.
  const run = forcedCollections(cfg, { verbose: true, oneCpu: true });
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.forced, 1, 'a plan of more than CAP_HEAP_MIN_STORES entries: one forced collection');
  // The scan's worker collects what its scan held once it has answered, unless the run stops it
  // first (a plan this large does, before planning: apply/run.ts IDLE_WORKER_MAX_ENTRIES).
  assert.ok(run.forcedByWorkers <= 1, `forced collections of the workers: ${run.forcedByWorkers}`);

  // The run is right: moved (linked, not copied: only the changed files' bytes), changed, nothing else.
  const mirror = join(root, 'dist', 'mirror');
  assert.equal(fs.existsSync(join(mirror, 'big')), false);
  for (let s = 0; s < subdirs; s++) {
    assert.equal(fs.readdirSync(join(mirror, 'moved', `s${s}`)).length, perDir);
    for (let f = 0; f < perDir; f++) assert.equal(fs.readFileSync(join(mirror, 'moved', `s${s}`, `f${f}`), 'utf8'), `${s}/${f}`);
  }
  for (const o of small) for (let f = 0; f < 100; f++) assert.equal(fs.readFileSync(join(mirror, o, `f${f}`), 'utf8'), f < 80 ? `changed ${o}/${f}` : `${o}/${f}`);
  const increments = fs.readdirSync(join(root, 'dist', 'increments')).sort();
  assert.equal(increments.length, 2);
  const summary = (JSON.parse(fs.readFileSync(join(root, 'dist', 'increments', increments[1] as string, 'increment.json'), 'utf8')) as { summary: unknown }).summary;
  assert.deepEqual(summary, { new: moved, changed: 80 * small.length, deleted: moved, errors: 0, bytes_copied: changedBytes });

  const young = mainYoungGeneration(run.trace);
  assert.ok(young.main !== undefined, 'the main isolate is in the trace');
  assert.ok(young.isolates.size >= 2, `the workers' isolates are in the trace too (${[...young.isolates].join(', ')})`);
  assert.ok(young.sizes.length >= 30, `collections of the main thread: ${young.sizes.length}`);
  t.diagnostic(`main isolate ${young.main}: New space committed ${[...new Set(young.sizes)].join(' → ')} KB over ${young.sizes.length} collections (${young.unclear} lines run together with another thread's)`);
  // Without the hold (or with both puts-back of a worker's start gone), it doubles up to V8's maximum,
  // 16 MiB halves, as the run scans and plans, and stays there for the rest of the run.
  assert.ok(Math.max(...young.sizes) < 32768, `the main thread's young generation grew to V8's maximum: ${young.sizes.join(' ')}`);

  // Held: 1 MiB halves (2048 KB) throughout, as measured here (the scan puts the hold back every
  // 1,000 entries after the scan worker's start undid it); 4096 KB allows one doubling.
  assert.ok(Math.max(...young.sizes) <= 4096, `New space committed over the run: ${young.sizes.join(' ')} KB`);
});
