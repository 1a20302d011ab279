import { EXIT, type ExitCode } from '../../io/errors.js';
import { verifyBackup } from '../../restore/verify.js';
import { count, humanBytes } from '../format.js';
import type { ToolContext } from './context.js';
import type { ToolOptions } from './options.js';
import { printJson } from './output.js';

export async function runVerify(ctx: ToolContext, _args: readonly string[], opts: ToolOptions): Promise<ExitCode> {
  const r = await verifyBackup(ctx.io.fs, ctx.catalog, { data: opts.data });
  const code = r.problems.length > 0 ? EXIT.failure : EXIT.ok;
  const c = r.checked;
  if (opts.json) {
    printJson(ctx, 'verify', code, {
      data: opts.data,
      ok: r.problems.length === 0,
      checked: { entries: c.entries, increments: c.increments, stored_files: c.storedFiles, hashed_files: c.hashedFiles, hashed_bytes: c.hashedBytes },
      findings: r.problems.map((p) => ({ where: p.where, path: p.path ?? null, problem: p.problem })),
      notices: r.notices,
    }, ctx.io.stdout);
    return code;
  }
  for (const n of r.notices) ctx.io.stderr.write(`backup-tool: note: ${n}\n`);
  for (const p of r.problems) ctx.io.stdout.write(`${p.where}: ${p.path === undefined ? '' : `${p.path}: `}${p.problem}\n`);
  const what = `${count(c.entries, 'mirror entries')}, ${count(c.increments, 'increments')}, ${count(c.storedFiles, 'stored versions')}${
    opts.data ? `; re-read ${count(c.hashedFiles, 'files')} (${humanBytes(c.hashedBytes)})` : ''
  }`;
  ctx.io.stdout.write(r.problems.length === 0 ? `verify: OK (${what})\n` : `verify: ${count(r.problems.length, r.problems.length === 1 ? 'problem' : 'problems')} (${what})\n`);
  return code;
}
