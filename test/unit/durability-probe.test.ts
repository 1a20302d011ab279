/**
 * The durability probe (src/io/durability.ts durabilityProbe): a `sync -f` that cannot even be
 * started (the fork fails at once with ENOMEM, say) answers "no syncfs", so each copy is fsync'ed,
 * instead of failing the run.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { durabilityProbe } from '../../src/io/durability.js';

describe('durabilityProbe', { skip: process.platform !== 'linux' && 'the probe runs on Linux only' }, () => {
  it('a spawn that throws at once falls back to fsync per file', async () => {
    let tried = 0;
    const probe = durabilityProbe('/', true, () => {
      tried++;
      throw Object.assign(new Error('spawn sync ENOMEM'), { code: 'ENOMEM' });
    });
    const d = await probe();
    assert.equal(tried, 1);
    assert.equal(d.perFile, true, 'each copy is fsynced');
    assert.equal(d.flushesAll, false, 'no flush of the whole drive is relied on');
  });
});
