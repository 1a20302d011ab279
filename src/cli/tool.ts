import { resolve } from 'node:path';
import { parseCommandLine } from './args.js';
import { describeError, exitCodeFor } from './exit.js';
import { programDir, programFile } from './backup.js';
import { EXIT, usageError, type ExitCode } from '../io/errors.js';
import { realFs } from '../io/fs.js';
import { BUNDLED, VERSION } from '../version.js';
import { locateBackup, openBackup, type BackupPlace, type ToolIo } from './tool/context.js';
import { COMMAND_HELP, TOOL_HELP } from './tool/help.js';
import type { CommandRun, ToolOptions } from './tool/options.js';
import { listWant, runList } from './tool/list.js';
import { historyWant, runHistory, runSearch, searchWant } from './tool/search.js';
import { recreateWant, restoreWant, runRecreate, runRestore } from './tool/restore.js';
import type { CatalogWant } from '../store/catalog.js';
import { runDiff } from './tool/diff.js';
import { runVerify } from './tool/verify.js';
import { runInteractive } from './tool/interactive.js';
import { DU_HELP, PRUNE_HELP, PRUNE_OPTIONS, duCommand, policyFrom, pruneCommand } from './retention.js';

/** `backup-tool [WHERE] COMMAND …` (SPEC §4, docs/tool.md). */

const OPTIONS = {
  profile: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  mask: { type: 'string', multiple: true },
  deleted: { type: 'boolean' },
  since: { type: 'string' },
  until: { type: 'string' },
  at: { type: 'string' },
  to: { type: 'string' },
  force: { type: 'boolean' },
  data: { type: 'boolean' },
  // --keep-* and --dry-run (which restore and recreate share)
  ...PRUNE_OPTIONS,
} as const;

const GLOBAL_OPTIONS = ['profile', 'json', 'help', 'version'];

interface CommandSpec {
  /** The command, on the backup as read (openBackup) … */
  run?: CommandRun;
  /** … or on where the backup is only, for a command that reads it itself (prune, du). */
  runAt?: (place: BackupPlace, args: readonly string[], opts: ToolOptions) => Promise<ExitCode>;
  options: readonly (keyof typeof OPTIONS)[];
  /** Positional arguments after the command: at least min, at most max, described for messages. */
  args: readonly [min: number, max: number];
  argsUsage: string;
  /** What the command needs decoded from the backup (default: everything). */
  want?: (args: readonly string[], opts: ToolOptions) => (src: string | undefined) => CatalogWant;
}

const WRITE_OPTIONS = ['at', 'to', 'force', 'dry-run'] as const;

const COMMANDS: Record<string, CommandSpec> = {
  list: { run: runList, options: [], args: [0, 0], argsUsage: 'no arguments', want: listWant },
  search: {
    run: runSearch,
    options: ['mask', 'deleted', 'since', 'until'],
    args: [0, 0],
    argsUsage: 'no arguments (masks are given with --mask)',
    want: searchWant,
  },
  history: { run: runHistory, options: [], args: [1, 1], argsUsage: 'one PATH', want: historyWant },
  restore: { run: runRestore, options: WRITE_OPTIONS, args: [1, Infinity], argsUsage: 'at least one PATH', want: restoreWant },
  recreate: { run: runRecreate, options: WRITE_OPTIONS, args: [0, 0], argsUsage: 'no arguments', want: recreateWant },
  diff: { run: runDiff, options: [], args: [1, 2], argsUsage: 'FROM and optionally TO' },
  verify: { run: runVerify, options: ['data'], args: [0, 0], argsUsage: 'no arguments' },
  // These two read the backup themselves (apply/prune.ts, under the lock; store/du.ts).
  prune: {
    runAt: async (place, _args, opts) => {
      let policy;
      try {
        policy = policyFrom(opts.keep, place.profile?.keep);
      } catch (err) {
        throw usageError(err instanceof Error ? err.message : String(err), 'run `backup-tool prune --help`');
      }
      return pruneCommand(place.dist, policy, opts.dryRun, opts.json);
    },
    options: ['keep-last', 'keep-hourly', 'keep-daily', 'keep-weekly', 'keep-monthly', 'keep-yearly', 'dry-run'],
    args: [0, 0],
    argsUsage: 'no arguments',
  },
  du: { runAt: async (place, _args, opts) => duCommand(place.dist, opts.json), options: [], args: [0, 0], argsUsage: 'no arguments' },
};

const HELP_OF: Record<string, string> = { ...COMMAND_HELP, prune: PRUNE_HELP, du: DU_HELP };

export function processIo(): ToolIo {
  const io: ToolIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, cwd: process.cwd(), programDir: programDir(), fs: realFs };
  // The bundle starts itself as the copying thread (src/bin/backup-tool.ts).
  if (BUNDLED) io.workerScript = programFile();
  return io;
}

export async function main(argv: string[]): Promise<ExitCode> {
  return runTool(argv, processIo());
}

/** The whole program against given streams: every outcome, thrown or not, becomes an exit code here. */
export async function runTool(argv: string[], io: ToolIo): Promise<ExitCode> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    io.stderr.write(`backup-tool: error: ${describeError(err)}\n`);
    return exitCodeFor(err);
  }
}

async function dispatch(argv: string[], io: ToolIo): Promise<ExitCode> {
  const { values, positionals } = parseCommandLine('backup-tool', argv, OPTIONS);
  if (values.version === true) {
    io.stdout.write(`hardback ${VERSION}\n`);
    return EXIT.ok;
  }
  const { where, command, args } = splitPositionals(io, positionals);
  if (values.help === true) {
    io.stdout.write(`${command === undefined ? TOOL_HELP : (HELP_OF[command] ?? TOOL_HELP)}\n`);
    return EXIT.ok;
  }
  const spec = command === undefined ? undefined : COMMANDS[command];
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined || GLOBAL_OPTIONS.includes(name)) continue;
    if (spec === undefined || !(spec.options as readonly string[]).includes(name)) {
      throw usageError(
        command === undefined ? `--${name} needs a command` : `--${name} is not an option of ${command}`,
        `run \`backup-tool ${command ?? ''}${command === undefined ? '' : ' '}--help\``,
      );
    }
  }
  const opts: ToolOptions = {
    json: values.json === true,
    mask: values.mask ?? [],
    deleted: values.deleted === true,
    force: values.force === true,
    dryRun: values['dry-run'] === true,
    data: values.data === true,
    ...(values.since === undefined ? {} : { since: values.since }),
    ...(values.until === undefined ? {} : { until: values.until }),
    ...(values.at === undefined ? {} : { at: values.at }),
    ...(values.to === undefined ? {} : { to: values.to }),
    keep: Object.fromEntries(Object.entries(values).filter(([k]) => k.startsWith('keep-'))),
  };
  if (command === undefined || spec === undefined) {
    if (io.stdin.isTTY === true && io.stdout.isTTY === true && !opts.json) {
      return runInteractive(await openBackup(io, where, values.profile ?? []));
    }
    io.stderr.write(`${TOOL_HELP}\n`);
    return EXIT.usage;
  }
  const [min, max] = spec.args;
  if (args.length < min || args.length > max) {
    throw usageError(`${command} takes ${spec.argsUsage} (got ${args.length})`, `run \`backup-tool ${command} --help\``);
  }
  if (spec.runAt !== undefined) return spec.runAt(locateBackup(io, where, values.profile ?? []), args, opts);
  if (spec.run === undefined) throw new Error(`${command}: no way to run it`);
  return spec.run(await openBackup(io, where, values.profile ?? [], spec.want?.(args, opts)), args, opts);
}

/**
 * [WHERE] COMMAND ARGS…: the first word is WHERE unless it is a command name (a folder named like a
 * command is given as ./list). A lone word that is neither a command nor an existing path is taken
 * for a mistyped command.
 */
function splitPositionals(io: ToolIo, positionals: string[]): { where: string | undefined; command: string | undefined; args: string[] } {
  const [first, second] = positionals;
  if (first === undefined) return { where: undefined, command: undefined, args: [] };
  if (first in COMMANDS) return { where: undefined, command: first, args: positionals.slice(1) };
  if (second === undefined) {
    if (io.fs.statSync(resolve(io.cwd, first), { throwIfNoEntry: false }) === undefined && /^[a-z-]+$/.test(first)) throw unknownCommand(first);
    return { where: first, command: undefined, args: [] };
  }
  if (!(second in COMMANDS)) throw unknownCommand(second);
  return { where: first, command: second, args: positionals.slice(2) };
}

function unknownCommand(word: string) {
  return usageError(`unknown command ${JSON.stringify(word)}; commands: ${Object.keys(COMMANDS).join(', ')}`, 'run `backup-tool --help`');
}
