import * as fs from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * The source tree the kill -9 tests use: `dirs` folders of `perDir` small files under docs/, big
 * files under media/ (sizes in MiB), odd modes, an empty folder and a symlink.
 */
export function makeCrashTree(src: string, o: { dirs: number; perDir: number; bigMib: readonly number[] }): void {
  for (let d = 0; d < o.dirs; d++) {
    const dir = join(src, 'docs', `d${String(d).padStart(2, '0')}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let f = 0; f < o.perDir; f++) fs.writeFileSync(join(dir, `f${String(f).padStart(3, '0')}.txt`), randomBytes(64 + ((d * 131 + f * 17) % 4000)));
  }
  fs.mkdirSync(join(src, 'media'));
  o.bigMib.forEach((mib, i) => fs.writeFileSync(join(src, 'media', `big-${i}.bin`), randomBytes(mib << 20)));
  fs.chmodSync(join(src, 'docs', 'd01'), 0o750);
  fs.chmodSync(join(src, 'docs', 'd02', 'f000.txt'), 0o600);
  fs.mkdirSync(join(src, 'empty'));
  fs.symlinkSync('../docs/d00/f000.txt', join(src, 'media', 'link'));
}

/**
 * Runs a built program and SIGKILLs it after `delayMs`, or as soon as `killWhen()` says so (polled
 * every millisecond). `killed` is false when it finished first.
 */
export function runAndKill(script: string, args: string[], delayMs: number, killWhen?: () => boolean): Promise<{ killed: boolean; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: 'ignore', env: { ...process.env, NO_COLOR: '1' } });
    const timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    const poll = killWhen === undefined ? undefined : setInterval(() => killWhen() && child.kill('SIGKILL'), 1);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (poll !== undefined) clearInterval(poll);
      resolve({ killed: signal === 'SIGKILL', code });
    });
  });
}
