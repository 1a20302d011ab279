import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { runBackup } from '../../src/apply/run.js';
import { silentReporter } from '../../src/apply/reporter.js';
import { runTool } from '../../src/cli/tool.js';
import { realFs } from '../../src/io/fs.js';
import { profileFor, removeDir, tempDir } from '../helpers/tree.js';
import { tool } from '../helpers/tool.js';

// A search streams its results (src/cli/tool/output.ts). Written into a pipe whose reader is slower
// (`backup-tool search … | less`), they must wait for the reader, not pile up in memory: every write
// of the search is made while stdout holds no more than it wants (writableNeedDrain false).

let root = '';
let dist = '';
const FILES = 4000;

before(async () => {
  root = tempDir('hb-slow-reader-');
  const src = join(root, 'src');
  dist = join(root, 'dist');
  // Long folder names: ~700 bytes of text and ~1.2 KB of JSON a result, megabytes in all.
  const deep = join(src, ...['a', 'b', 'c', 'd'].map((c) => c.repeat(150)));
  fs.mkdirSync(deep, { recursive: true });
  for (let i = 0; i < FILES; i++) fs.writeFileSync(join(deep, `file-${i}.txt`), `content ${i}`);
  await runBackup(profileFor(src, dist), { dryRun: false, force: false, checksum: false, reporter: silentReporter });
});
after(() => removeDir(root));

/** A stdout that takes each write a few milliseconds later, holding at most 64 KiB before it asks to wait. */
function slowReader(): { out: Writable; text: () => string; calls: number; refused: number; whileFull: number } {
  const pieces: string[] = [];
  const seen = { calls: 0, refused: 0, whileFull: 0 };
  const out = new Writable({
    highWaterMark: 64 << 10,
    write(chunk: Buffer, _enc, cb) {
      pieces.push(chunk.toString());
      setTimeout(cb, 2);
    },
  });
  const write = out.write.bind(out) as (chunk: string) => boolean;
  (out as unknown as { write: (chunk: string) => boolean }).write = (chunk: string) => {
    seen.calls++;
    if (out.writableNeedDrain) seen.whileFull++;
    const ok = write(chunk);
    if (!ok) seen.refused++;
    return ok;
  };
  return {
    out,
    text: () => pieces.join(''),
    get calls() {
      return seen.calls;
    },
    get refused() {
      return seen.refused;
    },
    get whileFull() {
      return seen.whileFull;
    },
  };
}

describe('search into a slow reader', () => {
  for (const json of [false, true]) {
    it(`waits for it before writing more (${json ? '--json' : 'text'}), and writes the same text`, async () => {
      const args = [dist, 'search', '--mask', '*.txt', ...(json ? ['--json'] : [])];
      const reader = slowReader();
      const code = await runTool(args, { stdout: reader.out, stderr: new Writable({ write: (_c, _e, cb) => cb() }), stdin: Readable.from([]), cwd: root, programDir: '/nonexistent', fs: realFs });
      await new Promise<void>((resolve) => reader.out.end(resolve));
      assert.equal(code, 0);
      const fast = await tool(args, { cwd: root });
      assert.equal(reader.text(), fast.stdout, 'the same output as into a fast reader');
      assert.ok(fast.stdout.length > 2 << 20, `megabytes of output (${fast.stdout.length} characters)`);
      assert.ok(reader.refused >= 2, `the reader asked to wait (${reader.refused} of ${reader.calls} writes)`);
      assert.equal(reader.whileFull, 0, `writes made while the reader held more than it wants: ${reader.whileFull} of ${reader.calls}`);
    });
  }
});
