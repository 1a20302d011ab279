import { dirname } from 'node:path';
import { realpathSync } from 'node:fs';
import { parseCommandLine } from './args.js';
import { combineExitCodes, describeError, exitCodeFor } from './exit.js';
import { cliReporter } from './progress.js';
import { colorsFor, count, humanBytes, humanDuration } from './format.js';
import { EXIT, usageError, type ExitCode } from '../io/errors.js';
import { realFs } from '../io/fs.js';
import { findConfigFile, loadConfig, selectProfiles } from '../config/load.js';
import { isDestinationAttached, runBackup, type BackupOutcome } from '../apply/run.js';
import { runPrune } from '../apply/prune.js';
import { BUNDLED, VERSION } from '../version.js';

const HELP = `backup — back up folders to a plain mirror plus hard-linked increments (hardback ${VERSION})

Usage: backup [CONFIG] [options]

CONFIG is a config file; by default config.json in the current folder, else config.json beside
this program. Every profile of the file runs, in file order, unless --profile picks some.

Options:
  --profile NAME   run only this profile (repeatable); a named profile whose destination
                   is not attached is an error
  --dry-run        print what would be done; write nothing at all (no folder, no lock, no state)
  --checksum       also compare file contents (sha256), not only size, mtime and mode
  --json           print one JSON document on stdout (per profile: summary, increment id)
  --quiet          print only errors
  --verbose        print each action (new, changed, deleted, skipped)
  --force          override the guards: empty source against a non-empty backup, deleting more
                   than max_delete_ratio of the mirror, a backup that belongs to another source
  --help           this help
  --version        the version

Exit codes:
  0  success (also: nothing changed)
  1  failure: the message says why; the backup is as consistent as before the run
  2  usage or configuration error; nothing was touched
  3  the run finished, but some files could not be read or written (listed; their
     previous versions are kept)

Progress goes to stderr when it is a terminal. NO_COLOR turns colours off.
Documentation: README.md and docs/ in the hardback repository.`;

interface ProfileResult {
  code: ExitCode;
  outcome?: BackupOutcome;
  json: Record<string, unknown>;
}

export async function main(argv: string[]): Promise<ExitCode> {
  const { values, positionals } = parseCommandLine('backup', argv, {
    profile: { type: 'string', multiple: true },
    'dry-run': { type: 'boolean' },
    checksum: { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
    verbose: { type: 'boolean' },
    force: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return EXIT.ok;
  }
  if (values.version) {
    process.stdout.write(`hardback ${VERSION}\n`);
    return EXIT.ok;
  }
  if (positionals.length > 1) throw usageError(`backup: one config file at most (got ${positionals.length})`, 'run `backup --help`');
  const file = findConfigFile({ explicit: positionals[0], cwd: process.cwd(), programDir: programDir() });
  const named = values.profile ?? [];
  const profiles = selectProfiles(loadConfig(file), named);
  const json = values.json === true;
  const quiet = values.quiet === true;
  const reporter = cliReporter({ quiet, verbose: values.verbose === true, json, stderr: process.stderr });
  const c = colorsFor(process.stderr);
  const results: ProfileResult[] = [];

  for (const profile of profiles) {
    const head = `profile "${profile.name}": ${profile.src} → ${profile.dist}`;
    if (!values['dry-run'] && !isDestinationAttached(realFs, profile.dist)) {
      if (named.length > 0) {
        const msg = `${head}: the destination is not attached (${dirname(profile.dist)} does not exist)`;
        process.stderr.write(`${c.red('backup: error:')} ${msg}\n`);
        results.push({ code: EXIT.failure, json: { profile: profile.name, status: 'failed', error: msg } });
      } else {
        if (!quiet) process.stderr.write(`backup: skipped ${head}: the destination is not attached\n`);
        results.push({ code: EXIT.ok, json: { profile: profile.name, status: 'skipped', reason: 'destination not attached' } });
      }
      continue;
    }
    const t0 = Date.now();
    try {
      const outcome = await runBackup(profile, {
        dryRun: values['dry-run'] === true,
        force: values.force === true,
        checksum: values.checksum === true || profile.checksum,
        reporter,
        ...(BUNDLED ? { workerScript: programFile() } : {}),
      });
      reporter.done();
      const code = outcome.errors.length > 0 ? EXIT.partial : EXIT.ok;
      const entry: ProfileResult = { code, outcome, json: outcomeJson(outcome) };
      results.push(entry);
      if (!json) printOutcome(outcome, Date.now() - t0, quiet, head);
      // Only after a fully successful run: a run with unreadable files may have kept old versions
      // that a prune would then judge by an incomplete picture.
      if (outcome.status !== 'dry-run' && code === EXIT.ok && profile.pruneAfterBackup && profile.keep !== undefined) {
        try {
          const pruned = await runPrune({ dist: profile.dist, policy: profile.keep, dryRun: false, notice: (m) => reporter.notice(m) });
          entry.json.pruned = pruned.removed;
          if (!json && !quiet && pruned.removed.length > 0) process.stdout.write(`  pruned ${pruned.removed.length} increments by the "keep" policy: ${pruned.removed.join(', ')}\n`);
        } catch (err) {
          entry.code = exitCodeFor(err);
          entry.json.prune_error = describeError(err);
          process.stderr.write(`${c.red('backup: error:')} ${head}: prune_after_backup: ${describeError(err)}\n`);
        }
      }
    } catch (err) {
      reporter.done();
      const code = exitCodeFor(err);
      process.stderr.write(`${c.red('backup: error:')} ${head}: ${describeError(err)}\n`);
      results.push({ code, json: { profile: profile.name, status: 'failed', error: describeError(err) } });
    }
  }
  const code = combineExitCodes(results.map((r) => r.code));
  if (json) process.stdout.write(`${JSON.stringify({ hardback: VERSION, exit: code, profiles: results.map((r) => r.json) }, null, 2)}\n`);
  return code;
}

function outcomeJson(o: BackupOutcome): Record<string, unknown> {
  const j: Record<string, unknown> = {
    profile: o.profile,
    source: o.source,
    destination: o.destination,
    status: o.status,
    increment: o.id,
    link_mode: o.linkMode,
    summary: o.summary,
    errors: o.errors,
    skipped: o.skipped,
    started: o.started,
    finished: o.finished,
  };
  if (o.preview !== undefined) j.plan = o.preview;
  return j;
}

function printOutcome(o: BackupOutcome, ms: number, quiet: boolean, head: string): void {
  const out = process.stdout;
  const c = colorsFor(process.stderr);
  for (const e of o.errors) process.stderr.write(`${c.red('  error:')} ${e.message} [${e.code}]\n`);
  if (quiet) return;
  const s = o.summary;
  const counts = `${count(s.new, 'new')}, ${count(s.changed, 'changed')}, ${count(s.deleted, 'deleted')}, ${count(s.errors, s.errors === 1 ? 'error' : 'errors')}`;
  out.write(`${head}\n`);
  if (o.status === 'dry-run' && o.preview !== undefined) {
    const p = o.preview;
    for (const m of p.moved) out.write(`  would move    ${m.from} → ${m.to}\n`);
    for (const x of p.new) out.write(`  would add     ${x}\n`);
    for (const x of p.changed) out.write(`  would update  ${x}\n`);
    for (const x of p.deleted) out.write(`  would delete  ${x}\n`);
    out.write(`  dry run: ${counts}; nothing was written\n`);
  } else if (o.status === 'no-change') {
    out.write(`  no changes: no increment created (${humanDuration(ms)})${s.errors ? `; ${count(s.errors, 'errors')}` : ''}\n`);
  } else {
    out.write(`  increment ${o.id}: ${counts}; ${humanBytes(s.bytes_copied)} copied in ${humanDuration(ms)}\n`);
    if (o.linkMode === 'copy') out.write(`  (this destination cannot hard-link: the increment holds copies)\n`);
  }
  if (o.skipped.length > 0) out.write(`  skipped ${count(o.skipped.length, 'special files')} (sockets, FIFOs, devices)\n`);
}

/** The running program file (build/backup.js, build/backup-tool.js), symlinks resolved. */
export function programFile(): string {
  const script = process.argv[1] ?? '';
  try {
    return realpathSync(script);
  } catch {
    return script;
  }
}

export function programDir(): string {
  const script = process.argv[1];
  if (script === undefined) return process.cwd();
  try {
    return dirname(realpathSync(script));
  } catch {
    return dirname(script);
  }
}
