import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { secondsFromNs } from '../../src/meta/entry.js';
import { removeDir, tempDir } from '../helpers/tree.js';

test('a restored mtime lands in the same microsecond as the recorded one (never a millisecond early)', (t) => {
  const dir = tempDir();
  t.after(() => removeDir(dir));
  const file = join(dir, 'f');
  fs.writeFileSync(file, '');
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const cases = [1795633507528000000n, 1795633507527999999n, 1795633507000000000n, 1795633507999999999n, 1_000_000_000n, 0n];
  for (let i = 0; i < 3000; i++) cases.push(1795633507n * 1_000_000_000n + BigInt(Math.floor(rand() * 1e9)));
  for (const ns of cases) {
    const s = secondsFromNs(ns.toString());
    fs.utimesSync(file, s, s);
    const got = fs.statSync(file, { bigint: true }).mtimeNs;
    assert.equal(got / 1000n, ns / 1000n, `mtime_ns ${ns} came back as ${got}`);
  }
});
