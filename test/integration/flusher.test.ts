/**
 * The Flusher (src/io/durability.ts): one long-lived shell makes a run's flushes of its batches, so
 * that this process is not forked once per flush. Each flush is a `sync -f DIST` that the shell
 * starts after the flush was asked, and is answered in order with that sync's exit status. A flush
 * the shell leaves unanswered (it was killed, or could not start) and each one after it is made by
 * a `sync` spawned for it. Until held, a flush waited for does not keep the process running.
 *
 * A `sync` first on PATH notes each call into a log: its start with the flushed folder and its
 * parent's pid (the shell's, or this process's for a spawned one), then its end. It waits
 * `delay` seconds and exits with `status`, both read from files of the test.
 */
import { after, before, beforeEach, describe, it } from 'node:test';
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
    `sleep "$(cat '${file('delay')}')"`,
    `echo "end" >> '${file('log')}'`,
    `exit "$(cat '${file('status')}')"`,
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
});

const logLines = () => fs.readFileSync(file('log'), 'utf8').split('\n').filter((l) => l !== '');
/** The parent pids of the syncs started so far, in order. */
const parents = () => logLines().flatMap((l) => (l.startsWith('start ') ? [Number(l.split(' ')[1])] : []));

/** spawn, keeping each child it starts. */
function keepingSpawn(): { start: typeof spawn; children: ChildProcess[] } {
  const children: ChildProcess[] = [];
  const start = ((...args: Parameters<typeof spawn>) => {
    const child = spawn(...args);
    children.push(child);
    return child;
  }) as typeof spawn;
  return { start, children };
}

/** The child's exit code, once it exits (waited for: the Flusher leaves its shell unref'd when idle). */
const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.ref();
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.on('exit', (code) => resolve(code));
  });

describe('the Flusher', { skip: process.platform !== 'linux' && 'the Flusher runs on Linux only' }, () => {
  it('answers each flush, in order, with a sync of its own that one shell starts after it was asked', async () => {
    const { start, children } = keepingSpawn();
    const flusher = new Flusher('/dist', start);
    flusher.hold();
    assert.equal(await flusher.flush(), undefined);
    fs.appendFileSync(file('log'), 'asked\n');
    fs.writeFileSync(file('delay'), '0.1');
    const answered: number[] = [];
    const three = [1, 2, 3].map((k) => flusher.flush().then((why) => (assert.equal(why, undefined), answered.push(k))));
    await Promise.all(three);
    flusher.close();
    assert.equal(await exited(children[0]!), 0, 'the shell exits once closed');
    assert.deepEqual(answered, [1, 2, 3]);
    assert.equal(children.length, 1, 'one shell, nothing else spawned');
    const shell = children[0]!.pid;
    assert.deepEqual(parents(), [shell, shell, shell, shell], 'every sync is the shell’s');
    assert.deepEqual(logLines(), ['start ' + shell + ' -f /dist', 'end', 'asked', ...Array(3).fill(['start ' + shell + ' -f /dist', 'end']).flat()]);
  });

  it('answers a sync that failed with its exit status, and goes on', async () => {
    const flusher = new Flusher('/dist');
    flusher.hold();
    fs.writeFileSync(file('status'), '3');
    assert.equal(await flusher.flush(), 'exit status 3');
    fs.writeFileSync(file('status'), '0');
    assert.equal(await flusher.flush(), undefined);
    flusher.close();
    assert.equal(parents().length, 2);
  });

  it('a shell killed while it flushes: that flush and each later one get a sync spawned for them', async () => {
    const { start, children } = keepingSpawn();
    const flusher = new Flusher('/dist', start);
    flusher.hold();
    fs.writeFileSync(file('delay'), '0.3');
    const first = flusher.flush();
    for (let waited = 0; parents().length === 0 && waited < 10_000; waited += 10) await sleep(10);
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

  it('a shell that cannot start: each flush spawns its own sync', async () => {
    const flusher = new Flusher('/dist', ((cmd: string, ...rest: [string[], object]) => {
      if (cmd === '/bin/sh') throw Object.assign(new Error('spawn /bin/sh ENOMEM'), { code: 'ENOMEM' });
      return spawn(cmd, ...rest);
    }) as typeof spawn);
    flusher.hold();
    assert.equal(await flusher.flush(), undefined);
    assert.equal(await flusher.flush(), undefined);
    assert.deepEqual(parents(), [process.pid, process.pid]);
  });

  it('a flush waited for keeps the process running only once held', () => {
    fs.writeFileSync(file('delay'), '0.5');
    const module = new URL('../../src/io/durability.js', import.meta.url).href;
    const run = (hold: boolean) =>
      spawnSync(
        process.execPath,
        ['--input-type=module', '-e', `import { Flusher } from '${module}'; const f = new Flusher('/dist'); ${hold ? 'f.hold();' : ''} f.flush().then((why) => console.log('flushed', why));`],
        // A shell left ref'd keeps the child running: that is a failure here, not a hang.
        { encoding: 'utf8', timeout: 10_000 },
      );
    const held = run(true);
    assert.equal(held.status, 0, held.stderr);
    assert.equal(held.stdout, 'flushed undefined\n');
    const loose = run(false);
    assert.equal(loose.status, 0, loose.stderr);
    assert.equal(loose.stdout, '', 'the process ended before the flush did');
  });
});
