/**
 * The Flusher (src/io/durability.ts): one long-lived shell makes a run's flushes of its batches, so
 * that this process is not forked once per flush. Each flush is a `sync -f DIST` that the shell
 * starts after the flush was asked, and is answered in order with that sync's exit status. A flush
 * the shell leaves unanswered (it was killed, or could not start) and each one after it is made by
 * a `sync` spawned for it. Until held, a flush waited for does not keep the process running.
 *
 * A `sync` first on PATH notes each call into a log: its start with the flushed folder and its
 * parent's pid (the shell's, or this process's for a spawned one), then its end. It waits
 * `delay` seconds and exits with a status read from the file `status`: its k-th word for the k-th
 * sync of the test, its last word for any sync after.
 */
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Flusher } from '../../src/io/durability.js';
import { syncOnPath } from '../helpers/durability.js';
import { removeDir, tempDir } from '../helpers/tree.js';

let root = '';
let undo: (() => void) | undefined;
const file = (name: string) => join(root, name);
before(() => {
  root = tempDir('hb-flusher-');
  undo = syncOnPath(() => [
    `echo "start $PPID $*" >> '${file('log')}'`,
    `k=$(( $(cat '${file('count')}') + 1 )); echo $k > '${file('count')}'`,
    `sleep "$(cat '${file('delay')}')"`,
    `echo "end" >> '${file('log')}'`,
    `set -- $(cat '${file('status')}'); [ $# -ge $k ] || k=$#`,
    'eval "exit \\${$k}"',
  ]);
});
after(() => {
  undo?.();
  removeDir(root);
});
beforeEach(() => {
  fs.writeFileSync(file('log'), '');
  fs.writeFileSync(file('delay'), '0');
  fs.writeFileSync(file('status'), '0');
  fs.writeFileSync(file('count'), '0');
});

const logLines = () => fs.readFileSync(file('log'), 'utf8').split('\n').filter((l) => l !== '');
/** The parent pids of the syncs started so far, in order. */
const parents = () => logLines().flatMap((l) => (l.startsWith('start ') ? [Number(l.split(' ')[1])] : []));

/** Every child a test's keepingSpawn started: killed after the test if still running. */
const started: ChildProcess[] = [];
afterEach(() => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** spawn, keeping each child it starts. */
function keepingSpawn(): { start: typeof spawn; children: ChildProcess[] } {
  const children: ChildProcess[] = [];
  const start = ((...args: Parameters<typeof spawn>) => {
    const child = spawn(...args);
    children.push(child);
    started.push(child);
    return child;
  }) as typeof spawn;
  return { start, children };
}

/** The child's exit code (or signal), once it exits (waited for: the Flusher leaves its shell unref'd when idle). */
const exited = (child: ChildProcess) =>
  new Promise<number | string | null>((resolve) => {
    child.ref();
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode);
    else child.on('exit', (code, signal) => resolve(code ?? signal));
  });

/** Waits until `done()` holds, or `ms` have passed (what is asserted after says which). */
async function until(done: () => boolean, ms: number): Promise<void> {
  for (let waited = 0; !done() && waited < ms; waited += 10) await sleep(10);
}

/** Each test's own limit: one left waiting for a shell fails (its children are then killed), not hangs the file. */
const T = { timeout: 20_000 };

/** A module script run by a child Node (its stdout and exit status); a child left running past 10 s fails, not hangs. */
const runChild = (script: string) =>
  spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 10_000 });
const durabilityJs = new URL('../../src/io/durability.js', import.meta.url).href;

describe('the Flusher', { skip: process.platform !== 'linux' && 'the Flusher runs on Linux only' }, () => {
  it('answers each flush, in order, with a sync of its own that one shell starts after it was asked', T, async () => {
    const { start, children } = keepingSpawn();
    const flusher = new Flusher('/dist', start);
    flusher.hold();
    // The k-th sync exits with the k-th status: each flush gets its own sync's.
    fs.writeFileSync(file('status'), '0 5 6 7');
    assert.equal(await flusher.flush(), undefined);
    fs.appendFileSync(file('log'), 'asked\n');
    fs.writeFileSync(file('delay'), '0.1');
    const three = await Promise.all([1, 2, 3].map(() => flusher.flush()));
    assert.deepEqual(three, ['exit status 5', 'exit status 6', 'exit status 7']);
    flusher.close();
    assert.equal(await exited(children[0]!), 0, 'the shell exits once closed');
    assert.equal(children.length, 1, 'one shell, nothing else spawned');
    const shell = children[0]!.pid;
    assert.deepEqual(parents(), [shell, shell, shell, shell], 'every sync is the shell’s');
    assert.deepEqual(logLines(), ['start ' + shell + ' -f /dist', 'end', 'asked', ...Array(3).fill(['start ' + shell + ' -f /dist', 'end']).flat()]);
  });

  it('answers a sync that failed with its exit status, and goes on with the same shell', T, async () => {
    const { start, children } = keepingSpawn();
    const flusher = new Flusher('/dist', start);
    flusher.hold();
    fs.writeFileSync(file('status'), '3 0');
    assert.equal(await flusher.flush(), 'exit status 3');
    assert.equal(await flusher.flush(), undefined);
    flusher.close();
    assert.equal(children.length, 1);
    assert.deepEqual(parents(), [children[0]!.pid, children[0]!.pid]);
  });

  it('closed with flushes pending: the shell answers them, then exits; a flush after gets a sync spawned for it', T, async () => {
    const { start, children } = keepingSpawn();
    const flusher = new Flusher('/dist', start);
    flusher.hold();
    fs.writeFileSync(file('delay'), '0.1');
    fs.writeFileSync(file('status'), '0 8 9');
    const pending = [flusher.flush(), flusher.flush()];
    flusher.close();
    assert.deepEqual(await Promise.all(pending), [undefined, 'exit status 8']);
    assert.equal(await exited(children[0]!), 0);
    assert.equal(await flusher.flush(), 'exit status 9');
    const shell = children[0]!.pid;
    assert.deepEqual(parents(), [shell, shell, process.pid]);
    assert.deepEqual(children.slice(1).map((c) => c.spawnargs.join(' ')), ['sync -f /dist']);
  });

  it('a shell that died while idle: the next flush gets a sync spawned for it', T, async () => {
    const { start, children } = keepingSpawn();
    const flusher = new Flusher('/dist', start);
    flusher.hold();
    assert.equal(await flusher.flush(), undefined);
    // 'close' follows 'exit' once the shell's output is read (the Flusher sees the shell gone); the
    // interval keeps this process running meanwhile, as the idle Flusher does not.
    const keep = setInterval(() => {}, 1000);
    const closed = new Promise((resolve) => children[0]!.once('close', resolve));
    children[0]!.kill('SIGKILL');
    await closed;
    clearInterval(keep);
    fs.writeFileSync(file('status'), '0 2');
    assert.equal(await flusher.flush(), 'exit status 2');
    assert.deepEqual(parents(), [children[0]!.pid, process.pid]);
  });

  // Shells that answer each line in a way the Flusher must not trust, made without a sync.
  const untrusted: Record<string, string> = {
    'out of turn': 'echo "9 0"',
    'without a status': 'echo "$n"',
    'with more than a status': 'echo "$n 0 more"',
  };
  for (const [what, answer] of Object.entries(untrusted)) {
    it(`a shell that answers ${what} is not trusted: that flush and each later one get a sync spawned for them`, T, async () => {
      const { start, children } = keepingSpawn();
      const wrong = ((cmd: string, args: string[], o: object) =>
        cmd === '/bin/sh' ? start(cmd, ['-c', `while read -r n; do ${answer}; done`], o) : start(cmd, args, o)) as typeof spawn;
      const flusher = new Flusher('/dist', wrong);
      flusher.hold();
      fs.writeFileSync(file('status'), '6 0');
      assert.equal(await flusher.flush(), 'exit status 6');
      assert.equal(await exited(children[0]!), 0, 'the shell was let go of (its input ended), the Flusher still open');
      assert.equal(await flusher.flush(), undefined);
      flusher.close();
      assert.deepEqual(parents(), [process.pid, process.pid]);
    });
  }

  it('a distrusted shell that lingers does not keep the process running', () => {
    // The shell answers out of turn, then sleeps with the Flusher's pipes open.
    const got = runChild(
      `import { spawn } from 'node:child_process'; import { Flusher } from '${durabilityJs}';
       const start = (cmd, args, o) => {
         if (cmd !== '/bin/sh') return spawn(cmd, args, o);
         const shell = spawn(cmd, ['-c', 'read -r n; echo "9 0"; exec sleep 15'], o);
         console.log('shell', shell.pid);
         return shell;
       };
       const f = new Flusher('/dist', start);
       f.hold();
       f.flush().then((why) => console.log('flushed', why));`,
    );
    const shell = Number(/^shell (\d+)$/m.exec(got.stdout)?.[1]);
    try {
      assert.equal(got.status, 0, got.stderr || 'still running after 10 s');
      assert.match(got.stdout, /^flushed undefined$/m);
    } finally {
      if (shell > 0) process.kill(shell, 'SIGKILL');
    }
  });

  it('a shell killed while it flushes: that flush and each later one get a sync spawned for them', T, async () => {
    const { start, children } = keepingSpawn();
    const flusher = new Flusher('/dist', start);
    flusher.hold();
    fs.writeFileSync(file('delay'), '0.3');
    const first = flusher.flush();
    await until(() => parents().length > 0, 10_000);
    assert.equal(parents().length, 1, 'the shell started a sync');
    children[0]!.kill('SIGKILL');
    assert.equal(await first, undefined);
    fs.writeFileSync(file('status'), '4');
    assert.equal(await flusher.flush(), 'exit status 4');
    flusher.close();
    // The shell's own sync, then one spawned for the flush it left unanswered, then the next flush's.
    assert.deepEqual(parents().slice(1), [process.pid, process.pid]);
    assert.deepEqual(
      children.slice(1).map((c) => c.spawnargs.join(' ')),
      ['sync -f /dist', 'sync -f /dist'],
    );
  });

  it('a shell that cannot start: each flush spawns its own sync', T, async () => {
    const flusher = new Flusher('/dist', ((cmd: string, ...rest: [string[], object]) => {
      if (cmd === '/bin/sh') throw Object.assign(new Error('spawn /bin/sh ENOMEM'), { code: 'ENOMEM' });
      return spawn(cmd, ...rest);
    }) as typeof spawn);
    flusher.hold();
    assert.equal(await flusher.flush(), undefined);
    assert.equal(await flusher.flush(), undefined);
    assert.deepEqual(parents(), [process.pid, process.pid]);
  });

  for (const shell of [true, false]) {
    it(`a flush waited for keeps the process running only once held (${shell ? 'the shell’s' : 'a sync spawned for it, the shell unable to start'})`, T, async () => {
      fs.writeFileSync(file('delay'), '0.5');
      const start = shell
        ? 'spawn'
        : `(cmd, ...rest) => { if (cmd === '/bin/sh') throw new Error('spawn /bin/sh ENOMEM'); return spawn(cmd, ...rest); }`;
      // Held before the flush is asked, or 100 ms into it (its sync takes 500 ms), or never: the
      // code run before the flush is asked, and after.
      const holding = { before: ['f.hold();', ''], later: ['', 'setTimeout(() => f.hold(), 100);'], never: ['', ''] };
      const run = (when: keyof typeof holding) => {
        const [pre, post] = holding[when];
        const got = runChild(
          `import { spawn } from 'node:child_process'; import { Flusher } from '${durabilityJs}';
           console.log('pid', process.pid);
           const f = new Flusher('/dist', ${start}); ${pre}
           f.flush().then((why) => console.log('flushed', why)); ${post}`,
        );
        assert.equal(got.status, 0, got.stderr || 'still running after 10 s');
        const pid = Number(/^pid (\d+)$/m.exec(got.stdout)?.[1]);
        return { pid, flushed: got.stdout.split('\n').filter((l) => l.startsWith('flushed')) };
      };
      const pids: number[] = [];
      for (const when of ['before', 'later'] as const) {
        const held = run(when);
        assert.deepEqual(held.flushed, ['flushed undefined'], `held ${when}`);
        pids.push(held.pid);
      }
      const loose = run('never');
      assert.deepEqual(loose.flushed, [], 'the process ended before the flush did');
      pids.push(loose.pid);
      // The loose run's sync goes on after its process ended: waited for, so that it does not write into the next test's log.
      await until(() => logLines().filter((l) => l === 'end').length === 3, 5_000);
      const syncParents = parents();
      assert.equal(syncParents.length, 3);
      if (shell) assert.ok(syncParents.every((p) => !pids.includes(p)), 'each sync was a shell’s');
      else assert.deepEqual(syncParents, pids, 'each sync was spawned by the child itself');
    });
  }
});
