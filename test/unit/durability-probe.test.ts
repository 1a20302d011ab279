/**
 * The durability probe (src/io/durability.ts durabilityProbe): a `sync -f` that cannot even be
 * started, in the Flusher's shell nor on its own (the fork fails at once with ENOMEM, say), answers "no syncfs", so each copy is fsync'ed,
 * instead of failing the run. And a batch's flush in the background (syncfsInBackground): settled
 * when `sync -f` exits 0, and a failure (code EIO, which stops the run) however it fails.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { spawn } from 'node:child_process';
import { durabilityProbe, syncfsInBackground } from '../../src/io/durability.js';

describe('durabilityProbe', { skip: process.platform !== 'linux' && 'the probe runs on Linux only' }, () => {
  it('a spawn that throws at once falls back to fsync per file', async () => {
    let tried = 0;
    const probe = durabilityProbe('/', true, () => {
      tried++;
      throw Object.assign(new Error('spawn sync ENOMEM'), { code: 'ENOMEM' });
    });
    const d = await probe.durability();
    assert.equal(tried, 2, 'the Flusher’s shell, then a sync of its own');
    assert.equal(d.perFile, true, 'each copy is fsynced');
    assert.equal(d.flushesAll, false, 'no flush of the whole drive is relied on');
  });
});

/** A stand-in for spawn: a child that emits `how` on the next turn; the arguments it was called with. */
function fakeSpawn(how: ['exit', number | null, string | null] | ['error', Error]): { start: typeof spawn; calls: string[][] } {
  const calls: string[][] = [];
  const start = ((cmd: string, args: string[]) => {
    calls.push([cmd, ...args]);
    const child = new EventEmitter();
    setImmediate(() => child.emit(...(how as [string, ...unknown[]])));
    return child;
  }) as unknown as typeof spawn;
  return { start, calls };
}

describe('syncfsInBackground', () => {
  it('runs `sync -f DIST` and settles once it exits 0', async () => {
    const { start, calls } = fakeSpawn(['exit', 0, null]);
    await syncfsInBackground('/dist', start);
    assert.deepEqual(calls, [['sync', '-f', '/dist']]);
  });

  it('fails with EIO when sync exits non-zero, is killed, cannot be found, or cannot be forked', async () => {
    const failures: [string, () => Promise<void>][] = [
      ['exit status 1', () => syncfsInBackground('/dist', fakeSpawn(['exit', 1, null]).start)],
      ['killed by SIGKILL', () => syncfsInBackground('/dist', fakeSpawn(['exit', null, 'SIGKILL']).start)],
      ['spawn sync ENOENT', () => syncfsInBackground('/dist', fakeSpawn(['error', new Error('spawn sync ENOENT')]).start)],
      [
        'spawn sync ENOMEM',
        () =>
          syncfsInBackground('/dist', () => {
            throw new Error('spawn sync ENOMEM');
          }),
      ],
    ];
    for (const [why, flushed] of failures) {
      await assert.rejects(flushed(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'EIO');
        assert.equal(err.message, `could not flush the destination (sync -f /dist failed: ${why})`);
        return true;
      });
    }
  });
});
