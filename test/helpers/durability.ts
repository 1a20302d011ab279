import * as fs from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './tree.js';

/**
 * Makes this process's runs fsync each copied file, as on a platform without syncfs(2)
 * (src/io/durability.ts asks `sync -f DIST` whether one flush per batch is possible): a `sync` that
 * always fails is put first on PATH. A run then commits its puts 256 at a time instead of 4096, so
 * a test tree of a few hundred files spans several batches. Returns the function that undoes it.
 */
export function perFileDurability(): () => void {
  const bin = tempDir('hb-nosyncfs-');
  fs.writeFileSync(join(bin, 'sync'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  const before = process.env.PATH;
  process.env.PATH = `${bin}:${before ?? ''}`;
  return () => {
    process.env.PATH = before;
    fs.rmSync(bin, { recursive: true, force: true });
  };
}
