import { createInterface, type Interface } from 'node:readline';
import { EXIT, HardbackError, type ExitCode } from '../../io/errors.js';
import { searchHistory } from '../../restore/search.js';
import { normalizeRestorePath, selectPaths } from '../../restore/select.js';
import { latestId, stateAt, versionsOf, type Cutoff, type Version } from '../../restore/state-at.js';
import { describeError } from '../exit.js';
import { idWithTime, resolveWhenIn, type ToolContext } from './context.js';
import { runList } from './list.js';
import { contentLabel, table, versionRows } from './output.js';
import { restoreItems, type RestoreRequest } from './restore.js';

/**
 * The menu `backup-tool` shows on a terminal when no command is given: search → pick a path →
 * pick a version → restore it; history; restore; recreate; list; quit. Everything it does is what
 * the commands do; it only asks for their arguments.
 */

/** Lines typed ahead (or pasted) are queued, so no answer is lost between two questions. */
class Prompter {
  private readonly queue: string[] = [];
  private readonly waiting: ((line: string | undefined) => void)[] = [];
  private closed = false;
  constructor(private readonly rl: Interface) {
    rl.on('line', (line) => {
      const w = this.waiting.shift();
      if (w !== undefined) w(line);
      else this.queue.push(line);
    });
    rl.on('close', () => {
      this.closed = true;
      for (const w of this.waiting.splice(0)) w(undefined);
    });
  }
  /** The next line, trimmed; undefined at end of input (Ctrl-D). */
  async ask(prompt: string): Promise<string | undefined> {
    this.rl.setPrompt(prompt);
    this.rl.prompt();
    const queued = this.queue.shift();
    if (queued !== undefined) return queued.trim();
    if (this.closed) return undefined;
    const line = await new Promise<string | undefined>((resolve) => this.waiting.push(resolve));
    return line?.trim();
  }
}

const MENU = `
  1) search     find paths by name or pattern, then restore one of their versions
  2) history    the versions of one path, then restore one of them
  3) restore    a path as of its latest version (or its last one, if deleted)
  4) recreate   the whole selection as of an increment
  5) list       the increments
  q) quit
`;

export async function runInteractive(ctx: ToolContext): Promise<ExitCode> {
  const { io } = ctx;
  const rl = createInterface({ input: io.stdin, output: io.stdout, terminal: true, historySize: 100 });
  const p = new Prompter(rl);
  const say = (s: string) => io.stdout.write(`${s}\n`);
  const n = ctx.history.ids.length;
  say(`hardback backup-tool — backup ${ctx.dist}${ctx.src === undefined ? '' : `, source ${ctx.src}`}`);
  say(n === 0 ? 'no increments yet' : `${n} increment${n === 1 ? '' : 's'}, the latest ${idWithTime(latestId(ctx.history))}`);
  for (const problem of ctx.catalog.problems) io.stderr.write(`backup-tool: problem: ${problem}\n`);
  try {
    for (;;) {
      say(MENU);
      const choice = await p.ask('choice> ');
      if (choice === undefined || ['q', 'quit', 'exit', '6'].includes(choice.toLowerCase())) break;
      try {
        switch (choice.toLowerCase()) {
          case '1':
          case 'search':
            await searchFlow(ctx, p);
            break;
          case '2':
          case 'history':
            await historyFlow(ctx, p);
            break;
          case '3':
          case 'restore': {
            const raw = await p.ask('path (relative to the source)> ');
            if (raw) await restoreFlow(ctx, p, normalizeRestorePath(raw, ctx.src), undefined);
            break;
          }
          case '4':
          case 'recreate':
            await recreateFlow(ctx, p);
            break;
          case '5':
          case 'list':
            await runList(ctx, [], { json: false, mask: [], deleted: false, force: false, dryRun: false, data: false, keep: {} });
            break;
          case '':
            break;
          default:
            say(`unknown choice ${JSON.stringify(choice)}`);
        }
      } catch (err) {
        if (!(err instanceof HardbackError)) throw err;
        io.stderr.write(`backup-tool: ${describeError(err)}\n`);
      }
    }
  } finally {
    rl.close();
  }
  say('bye');
  return EXIT.ok;
}

async function pickNumber(p: Prompter, prompt: string, count: number): Promise<number | undefined> {
  for (;;) {
    const a = await p.ask(prompt);
    if (a === undefined || a === '') return undefined;
    const i = Number(a);
    if (Number.isInteger(i) && i >= 1 && i <= count) return i - 1;
  }
}

async function searchFlow(ctx: ToolContext, p: Prompter): Promise<void> {
  const say = (s: string) => ctx.io.stdout.write(`${s}\n`);
  const raw = await p.ask('mask(s), separated by spaces (e.g. *.pdf report*)> ');
  if (!raw) return;
  const results = searchHistory(ctx.history, { masks: raw.split(/\s+/) });
  if (results.length === 0) {
    say('nothing found');
    return;
  }
  const shown = results.slice(0, 200);
  say(
    table(
      shown.map((r, i) => [`${i + 1})`, r.path, r.current === undefined ? 'deleted' : '', `${r.versions.length} version${r.versions.length === 1 ? '' : 's'}`]),
      [0],
    ).trimEnd(),
  );
  if (results.length > shown.length) say(`… and ${results.length - shown.length} more: give a narrower mask`);
  const i = await pickNumber(p, 'path number (empty: back)> ', shown.length);
  if (i === undefined) return;
  await versionsFlow(ctx, p, (shown[i] as { path: string }).path);
}

async function historyFlow(ctx: ToolContext, p: Prompter): Promise<void> {
  const raw = await p.ask('path (relative to the source)> ');
  if (!raw) return;
  await versionsFlow(ctx, p, normalizeRestorePath(raw, ctx.src));
}

async function versionsFlow(ctx: ToolContext, p: Prompter, path: string): Promise<void> {
  const say = (s: string) => ctx.io.stdout.write(`${s}\n`);
  const versions = versionsOf(ctx.history, path);
  if (versions.length === 0) {
    say(`no version of ${path} in this backup`);
    return;
  }
  say(`${path}:`);
  say(table(versionRows(versions, { sha: false, label: (i) => `${i + 1})` }), [0, 4]).trimEnd());
  const i = await pickNumber(p, 'restore which version? (number; empty: back)> ', versions.length);
  if (i === undefined) return;
  const v = versions[i] as Version;
  if (v.source.kind === 'unavailable') {
    say(`that version is ${contentLabel(v.source)}: ${v.source.reason}`);
    return;
  }
  await restoreFlow(ctx, p, path, v.cut);
}

async function askTarget(ctx: ToolContext, p: Prompter): Promise<string | undefined | null> {
  const a = await p.ask(`restore into which folder? (empty: ${ctx.src === undefined ? 'none known, give one' : `the source folder ${ctx.src}`})> `);
  if (a === undefined) return null;
  return a === '' ? undefined : a;
}

/** Runs a restore; when only --force-able conflicts stop it, offers to replace them. */
async function writeWithConfirm(ctx: ToolContext, p: Prompter, req: RestoreRequest): Promise<void> {
  const first = await restoreItems(ctx, req);
  if (first.plan.ok || first.plan.conflicts.some((c) => c.always)) return;
  const a = await p.ask(`replace ${first.plan.conflicts.length} existing file(s) with the restored version? [y/N]> `);
  if (a !== undefined && /^y(es)?$/i.test(a)) await restoreItems(ctx, { ...req, force: true });
}

async function restoreFlow(ctx: ToolContext, p: Prompter, path: string, cut: Cutoff | undefined): Promise<void> {
  const to = await askTarget(ctx, p);
  if (to === null) return;
  const sel = selectPaths(ctx.history, [path], cut);
  if (sel.notFound.length > 0) {
    ctx.io.stdout.write(`${path}: ${sel.notFound[0]?.hint ?? 'not found'}\n`);
    return;
  }
  const at = cut === undefined || cut === 'latest' ? undefined : 'at' in cut ? cut.at : undefined;
  await writeWithConfirm(ctx, p, {
    command: 'restore',
    items: sel.items,
    parents: sel.parents,
    requested: [path],
    choices: sel.choices,
    at,
    to,
    force: false,
    dryRun: false,
    json: false,
  });
}

async function recreateFlow(ctx: ToolContext, p: Prompter): Promise<void> {
  const when = await p.ask('as of which increment? (id, prefix or date; empty: the latest)> ');
  if (when === undefined) return;
  const at = when === '' ? undefined : resolveWhenIn(ctx, when);
  const to = await askTarget(ctx, p);
  if (to === null) return;
  const items = [...stateAt(ctx.history, at === undefined ? 'latest' : { at }).values()];
  await writeWithConfirm(ctx, p, { command: 'recreate', items, at, to, force: false, dryRun: false, json: false });
}
