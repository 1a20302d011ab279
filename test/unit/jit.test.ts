import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { INLINE_BUDGET, V8_INLINE_BUDGET, inlineBudget, inlineForLongWork, limitInlining } from '../../src/threads/jit.js';
import { REPO, removeDir, tempDir } from '../helpers/tree.js';

/**
 * The inlining budget is a V8 flag set at run time (src/threads/jit.ts), which V8 cannot be asked
 * for: its effect is seen in V8's own trace of what it inlines (--trace-turbo-inlining), in a process
 * of its own. The caller is optimized on demand (--allow-natives-syntax), so the trace does not
 * depend on how hot anything gets; its callee's bytecode is over the cap and under V8's limit for
 * one function (460 bytes).
 */
const PROBE = `
export function callee(a, b) {
  let s = 0;
  for (let i = 0; i < a.length; i++) { s += a.charCodeAt(i) * b; if (s > 1e9) s -= 1e9; else if (s < 0) s = -s; }
  s ^= a.length; s += b * 3; s -= a.length >> 1; s = s % 1000003; s += a.indexOf('x') + a.lastIndexOf('y');
  return s + (a.length > 3 ? a.charCodeAt(3) : 0) + (b > 2 ? b * b : b) + (s & 1 ? 1 : 2);
}
export function caller(a) { return callee(a, 7) + 1; }
export function optimize() {
  %PrepareFunctionForOptimization(callee);
  %PrepareFunctionForOptimization(caller);
  caller('hello'); caller('world');
  %OptimizeFunctionOnNextCall(caller);
  caller('again');
}
`;

/** What V8 traced for the probe after `steps` (jit.ts calls, in order): the callee's size, and whether it was inlined. */
function probe(steps: string[]): { size: number | undefined; inlined: boolean; trace: string } {
  const dir = tempDir('hb-jit-');
  try {
    fs.writeFileSync(join(dir, 'probe.mjs'), PROBE);
    const jit = pathToFileURL(join(REPO, '.test-build', 'src', 'threads', 'jit.js')).href;
    const main = `import * as jit from ${JSON.stringify(jit)};\nlet undo;\nfor (const s of ${JSON.stringify(steps)}) { if (s === 'undo') undo(); else { const r = jit[s](); if (typeof r === 'function') undo = r; } }\nconst { optimize } = await import('./probe.mjs');\noptimize();\n`;
    fs.writeFileSync(join(dir, 'main.mjs'), main);
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--trace-turbo-inlining', join(dir, 'main.mjs')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const size = /<SharedFunctionInfo callee>\}, bytecode size: (\d+)/.exec(r.stdout)?.[1];
    return { size: size === undefined ? undefined : Number(size), inlined: /^Inlining .*<SharedFunctionInfo callee>.* into .*<SharedFunctionInfo caller>/m.test(r.stdout), trace: r.stdout };
  } finally {
    removeDir(dir);
  }
}

test('limitInlining keeps a callee over the budget out of its caller; inlineForLongWork lets V8 inline it again, and its undo caps it again', () => {
  const free = probe([]);
  assert.ok(free.size !== undefined && free.size > INLINE_BUDGET && free.size <= 460, `the probe's callee is over the cap and inlinable by default (bytecode size ${free.size}):\n${free.trace}`);
  assert.ok(free.inlined, `without the cap V8 inlines it:\n${free.trace}`);
  const capped = probe(['limitInlining']);
  assert.equal(capped.size, free.size, 'V8 considered it under the cap too');
  assert.equal(capped.inlined, false, `under the cap it is not inlined:\n${capped.trace}`);
  const long = probe(['limitInlining', 'inlineForLongWork']);
  assert.equal(long.inlined, true, `long work: inlined as V8 would:\n${long.trace}`);
  const after = probe(['limitInlining', 'inlineForLongWork', 'undo']);
  assert.equal(after.size, free.size, 'V8 considered it after long work too');
  assert.equal(after.inlined, false, `after long work: capped again:\n${after.trace}`);
});

test('inlineForLongWork puts back the budget it found, once', () => {
  limitInlining();
  assert.equal(inlineBudget(), INLINE_BUDGET);
  const outer = inlineForLongWork();
  assert.equal(inlineBudget(), V8_INLINE_BUDGET);
  const inner = inlineForLongWork();
  inner();
  assert.equal(inlineBudget(), V8_INLINE_BUDGET, 'nested: the outer long work goes on');
  outer();
  assert.equal(inlineBudget(), INLINE_BUDGET);
  outer();
  inner();
  assert.equal(inlineBudget(), INLINE_BUDGET, 'undone twice: no change');
});
