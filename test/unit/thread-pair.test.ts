import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { errorOf, ThreadPair, type PairResult } from '../../src/threads/pair.js';
import type { RoleData, WorkerRole } from '../../src/threads/roles.js';
import { testJobs, testWork, type TestJobs, type TestResults, type TestWorkOptions } from '../helpers/pair-work.js';
import { REPO } from '../helpers/tree.js';

// The two-thread job runner (src/threads/pair.ts) with a job that touches no files
// (test/helpers/pair-work.ts), the compiled test/helpers/pair-worker.js as its worker: what the
// worker makes must be exactly what this thread would, faults included; a worker that dies or
// cannot start costs only time; a drive failure on either thread stops the other.

const WORKER = join(REPO, '.test-build', 'test', 'helpers', 'pair-worker.js');

/** n jobs; some fail: EACCES, an error without a code, ECHANGED. */
function jobs(n: number, ms = 0): TestJobs {
  const j = testJobs();
  for (let i = 0; i < n; i++) {
    j.text.push(`job ${i} `.repeat(1 + (i % 7)));
    j.fault.push(i % 97 === 3 ? 'EACCES' : i % 89 === 5 ? '-' : i % 83 === 7 ? 'ECHANGED' : '');
    j.ms.push(ms);
  }
  return j;
}

/** Each job's outcome as one line, in job order; 'none' for a job with no outcome. Checks none has two. */
function view(r: PairResult<TestResults>, n: number): string[] {
  const out = new Array<string>(n).fill('none');
  const set = (i: number, v: string) => {
    assert.equal(out[i], 'none', `job ${i} has one outcome`);
    out[i] = v;
  };
  for (const p of r.parts) p.done.forEach((i, k) => set(i, `made ${p.results.sha256[k]} ${p.results.length[k]}`));
  for (const f of r.faults) set(f.index, `fault ${String(f.code)} ${f.message}`);
  assert.deepEqual(
    r.faults.map((f) => f.index),
    r.faults.map((f) => f.index).sort((a, b) => a - b),
    'faults in job order',
  );
  return out;
}

const workerData = (test: TestWorkOptions): RoleData<WorkerRole> => {
  const data: RoleData<WorkerRole> & { test: TestWorkOptions } = { hardbackRole: 'copy', test };
  return data;
};

function pair(o: { worker?: TestWorkOptions; script?: string; mine?: TestWorkOptions; cleared?: number[]; chunk?: number; aloneLanes?: number } = {}) {
  const worker = o.worker === undefined ? undefined : { script: o.script ?? WORKER, data: workerData(o.worker) };
  return new ThreadPair(testWork(o.mine ?? {}, o.cleared), { chunk: o.chunk ?? 1, ...(o.aloneLanes === undefined ? {} : { aloneLanes: o.aloneLanes }), ...(worker === undefined ? {} : { worker }) });
}

async function alone(j: TestJobs, async = false): Promise<string[]> {
  const p = pair({ mine: { async } });
  return view(await p.start(j).finish(), j.text.length);
}

const SAB = () => new SharedArrayBuffer(4);

describe('ThreadPair', () => {
  for (const mode of [
    { name: 'synchronous jobs, claimed 64 at a time', async: false, chunk: 64 },
    { name: 'asynchronous jobs, one at a time, four in flight alone', async: true, chunk: 1, aloneLanes: 4 },
  ]) {
    it(`the worker's outcomes equal this thread's, faults included (${mode.name})`, async () => {
      const n = 3000;
      const want = await alone(jobs(n), mode.async);
      assert.ok(want.some((v) => v.startsWith('fault null ')) && want.some((v) => v.startsWith('fault EACCES ')), 'the jobs include faults with and without a code');
      const solo = pair({ mine: { async: mode.async }, chunk: mode.chunk, ...(mode.aloneLanes === undefined ? {} : { aloneLanes: mode.aloneLanes }) });
      assert.deepEqual(view(await solo.start(jobs(n)).finish(), n), want, 'this thread alone, with its lanes');
      const p = pair({ worker: { async: mode.async }, mine: { async: mode.async }, chunk: mode.chunk });
      try {
        // Every job to the worker: every outcome below crossed from it.
        const byWorker = await p.start(jobs(n), { thisThread: false }).finish();
        assert.equal(byWorker.byWorker, n, 'the worker made every job');
        assert.deepEqual(view(byWorker, n), want);
        // Both threads, on the same worker (1 ms a job, so both take some).
        const both = await p.start(jobs(400, 1)).finish();
        assert.deepEqual(view(both, 400), want.slice(0, 400));
        assert.ok(both.byWorker > 0 && both.byWorker < 400, `both threads made jobs (worker: ${both.byWorker})`);
      } finally {
        await p.close();
      }
    });
  }

  it('with yieldMs, this thread lets its event loop run during a batch of synchronous jobs; without, only after it', async () => {
    // 40 jobs of 5 ms each (200 ms, all synchronous): a timer due after 20 ms fires during them only
    // when the loop yields.
    const firedAt = async (yieldMs: number | undefined): Promise<{ fired: number; made: number }> => {
      const p = new ThreadPair(testWork({}), { chunk: 1, ...(yieldMs === undefined ? {} : { yieldMs }) });
      let made = 0;
      let fired = -1;
      setTimeout(() => (fired = made), 20);
      const r = await p.start(jobs(40, 5), { onDone: () => made++ }).finish();
      assert.equal(view(r, 40).filter((v) => v === 'none').length, 0, 'every job has an outcome');
      await new Promise((resolve) => setTimeout(resolve, 25));
      return { fired, made };
    };
    const yielding = await firedAt(5);
    assert.ok(yielding.fired > 0 && yielding.fired < 20, `with yieldMs 5 the timer fired after ${yielding.fired} of ${yielding.made} jobs made`);
    const blocking = await firedAt(undefined);
    assert.equal(blocking.fired, blocking.made, 'without yieldMs the timer fired only once every job was made');
  });

  it('batches posted one after another are answered in order; progress is seen once per job made', async () => {
    const p = pair({ worker: {}, chunk: 1 });
    try {
      const batches = [jobs(150, 1), jobs(300, 1), jobs(50, 1)];
      const made = [0, 0, 0];
      const runs = batches.map((b, k) => p.start(b, { onDone: () => made[k]!++ }));
      let byWorker = 0;
      for (const [k, run] of runs.entries()) {
        const r = await run.finish();
        const n = batches[k]!.text.length;
        assert.deepEqual(view(r, n), await alone(batches[k]!));
        assert.equal(made[k], r.parts.reduce((s, part) => s + part.done.length, 0), `batch ${k}: onDone per job made`);
        byWorker += r.byWorker;
      }
      assert.ok(byWorker > 0, 'the worker took jobs');
    } finally {
      await p.close();
    }
  });

  it('stop(): the worker starts no job of a stopped batch (none after the one it is making), and finish makes none again', async () => {
    const progress = SAB();
    const started = new Int32Array(progress);
    const p = pair({ worker: { progress }, chunk: 1 });
    // The worker answers batches in order: once an empty batch posted after them is answered, it is
    // done with every one before.
    const barrier = () => p.start(jobs(0), { thisThread: false }).finish();
    try {
      const first = p.start(jobs(100, 2), { thisThread: false });
      const ahead = p.start(jobs(100, 2), { thisThread: false });
      ahead.stop(); // before the worker is done with the first batch
      assert.equal((await first.finish()).byWorker, 100);
      await barrier();
      assert.equal(Atomics.load(started, 0), 100, 'no job of the stopped batch was started');
      const none = await ahead.finish();
      assert.equal(view(none, 100).filter((x) => x !== 'none').length, 0, 'finish made none of its jobs here either');
      // Stopped while the worker is in it (20 ms a job: 2 s for the batch).
      const third = p.start(jobs(100, 20), { thisThread: false });
      const deadline = Date.now() + 10_000;
      while (Atomics.load(started, 0) < 110) {
        assert.ok(Date.now() < deadline, 'the worker started the third batch');
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      third.stop();
      const at = Atomics.load(started, 0);
      assert.ok(at < 200, `stopped inside the batch (${at - 100} of its jobs started)`);
      const r = await third.finish();
      await barrier();
      const made = Atomics.load(started, 0) - 100;
      assert.ok(made <= at - 100 + 1, `the worker stopped after the job it was making (${made} started, ${at - 100} when stopped)`);
      assert.equal(view(r, 100).filter((x) => x !== 'none').length, made, 'the jobs not made have no outcome: none made again here');
      assert.equal(r.stopped, undefined);
    } finally {
      await p.close();
    }
  });

  it('a worker that dies mid-batch: the jobs it took are cleared and made here; later batches run here alone', async () => {
    const progress = SAB();
    const cleared: number[] = [];
    // This thread's first job (job 0) waits until the worker has started five; the worker dies at its fifth.
    const p = pair({ worker: { progress, dieAt: 5 }, mine: { waitFor: { progress, atLeast: 5 } }, cleared });
    try {
      const n = 200;
      const r = await p.start(jobs(n)).finish();
      assert.deepEqual(view(r, n), await alone(jobs(n)));
      assert.equal(r.byWorker, 0, 'no answer came from the worker');
      assert.deepEqual(cleared, [1, 2, 3, 4, 5], 'the five jobs the worker took were cleared, then made again');
      assert.equal(p.hasWorker, false);
      const r2 = await p.start(jobs(50)).finish();
      assert.deepEqual(view(r2, 50), await alone(jobs(50)));
      assert.deepEqual(cleared, [1, 2, 3, 4, 5], 'nothing more to clear');
    } finally {
      await p.close();
    }
  });

  for (const [what, script] of [
    ['a program file that is not there (the worker fails as it starts)', join(REPO, 'no-such-worker.js')],
    ['a path a worker cannot even be created with', 'no-such-worker.js'],
  ] as const) {
    it(`a worker that cannot start: every job is made here (${what})`, async () => {
      const p = pair({ worker: {}, script, chunk: 64 });
      try {
        const n = 500;
        const r = await p.start(jobs(n, 0), { thisThread: false }).finish();
        assert.deepEqual(view(r, n), await alone(jobs(n)));
        assert.equal(r.byWorker, 0);
        assert.equal(p.hasWorker, false);
      } finally {
        await p.close();
      }
    });
  }

  it('a drive failure on the worker stops this thread too: the jobs not made have no outcome', async () => {
    const p = pair({ worker: { failFirst: 'ENOSPC' } });
    try {
      const n = 2000;
      const r = await p.start(jobs(n, 2)).finish();
      assert.equal(r.stopped?.code, 'ENOSPC');
      assert.equal(r.byWorker, 1, 'the worker stopped at its failure');
      const mine = (r.parts[0]?.done.length ?? 0) + (r.parts[0]?.faults.length ?? 0);
      assert.ok(mine < n / 2, `this thread stopped too (it made ${mine} of ${n} jobs, at 2 ms each)`);
      assert.equal(r.parts.length, 2, 'nothing was made again');
      const v = view(r, n);
      assert.equal(v.filter((x) => x !== 'none').length, mine + 1, 'only the jobs attempted have an outcome');
    } finally {
      await p.close();
    }
  });

  it('a drive failure on this thread stops the worker', async () => {
    const progress = SAB();
    // This thread's first job fails with EIO once the worker has started ten.
    const p = pair({ worker: { progress }, mine: { waitFor: { progress, atLeast: 10 }, failFirst: 'EIO' } });
    try {
      const n = 2000;
      const r = await p.start(jobs(n, 2)).finish();
      assert.equal(r.stopped?.code, 'EIO');
      assert.equal(r.stopped?.index, 0);
      assert.ok(r.byWorker >= 10 && r.byWorker < n / 2, `the worker stopped (it made ${r.byWorker} of ${n} jobs, at 2 ms each)`);
      assert.equal(view(r, n).filter((x) => x !== 'none').length, r.byWorker + 1);
    } finally {
      await p.close();
    }
  });

  it('an error without a code stays without one, on either thread, and stops nothing', async () => {
    const j = testJobs();
    for (let i = 0; i < 100; i++) {
      j.text.push(`t${i}`);
      j.fault.push(i % 10 === 0 ? '-' : '');
      j.ms.push(0);
    }
    const p = pair({ worker: {} });
    try {
      for (const thisThread of [false, true]) {
        const r = await (thisThread ? pair() : p).start(j, { thisThread }).finish();
        if (!thisThread) assert.equal(r.byWorker, 100);
        assert.equal(r.stopped, undefined);
        assert.deepEqual(r.faults.map((f) => [f.index, f.code]), Array.from({ length: 10 }, (_, k) => [k * 10, null]));
        for (const f of r.faults) assert.equal('code' in errorOf(f), false, 'the Error made of it has no code either');
        assert.equal(r.parts.reduce((s, part) => s + part.done.length, 0), 90);
      }
    } finally {
      await p.close();
    }
  });
});
