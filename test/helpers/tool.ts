import { Readable, Writable } from 'node:stream';
import { runTool } from '../../src/cli/tool.js';
import { realFs, type Fs } from '../../src/io/fs.js';

/** Runs backup-tool in-process (much faster than spawning), capturing stdout and stderr (and how many writes made stdout). */
export async function tool(args: string[], opts: { fs?: Fs; cwd?: string } = {}): Promise<{ code: number; stdout: string; stderr: string; stdoutWrites: number }> {
  let stdout = '';
  let stderr = '';
  let stdoutWrites = 0;
  const sink = (add: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        add(chunk.toString());
        cb();
      },
    });
  const code = await runTool(args, {
    stdout: sink((s) => {
      stdout += s;
      stdoutWrites++;
    }),
    stderr: sink((s) => (stderr += s)),
    stdin: Readable.from([]),
    cwd: opts.cwd ?? process.cwd(),
    programDir: '/nonexistent',
    fs: opts.fs ?? realFs,
  });
  return { code, stdout, stderr, stdoutWrites };
}
