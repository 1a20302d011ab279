import { VERSION } from '../../version.js';

export const TOOL_HELP = `backup-tool — find, inspect and restore files of a hardback backup (hardback ${VERSION})

Usage: backup-tool [WHERE] COMMAND [options]
       backup-tool [WHERE]            (on a terminal: an interactive menu)

WHERE is a backup folder (the "dist" of a profile) or a config file. Without it, the config file is
found as backup finds it: config.json in the current folder, else beside this program.

Commands:
  list                          the increments: time, new/changed/deleted counts, bytes copied
  search [--mask GLOB]…         paths matching any mask, with their versions
         [--deleted] [--since WHEN] [--until WHEN]
  history PATH                  every version of one path, newest first
  restore PATH… [--at WHEN]     files or folders as of WHEN (default: the latest state; a deleted
          [--to DIR] [--force]  path: its last version) to DIR (default: their place in the source)
          [--dry-run]
  recreate [--at WHEN]          the whole selection as of WHEN into DIR (default: the source)
           [--to DIR] [--force] [--dry-run]
  diff FROM [TO]                paths added, changed and deleted between two increments
  verify [--data]               check the backup's structure; --data re-reads every stored file
  prune [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N]
        [--keep-monthly N] [--keep-yearly N] [--dry-run]
                                drop increments outside the policy (default: the config's "keep")
  du                            per increment: files, bytes, and bytes only it holds

WHEN is an increment id, a unique prefix of one, "latest", or an ISO date or date-time in local time
(2026-11-25 = the end of that day; 2026-11-25T16:38; 2026-11-25T15:38:00Z): the last increment at
or before it.

Options:
  --profile NAME   the profile to use when the config file has several
  --json           one JSON document on stdout (shapes: docs/tool.md)
  --help           this help, or a command's: backup-tool COMMAND --help
  --version        the version

restore and recreate never overwrite a file with other content without --force (they list the
conflicts and exit 1), never delete anything, and never write outside the target folder.

Exit codes: 0 success · 1 failure, conflicts or damaged metadata (named on stderr) · 2 usage error
Documentation: docs/tool.md and docs/restoring.md in the hardback repository.`;

export const COMMAND_HELP: Record<string, string> = {
  list: `Usage: backup-tool [WHERE] list [--json]

Lists the increments, oldest first: id, local time, how many entries were new, changed and deleted,
how many errors the run had, and the bytes it copied. Unreadable increments are named (exit 1).`,
  search: `Usage: backup-tool [WHERE] search [--mask GLOB]… [--deleted] [--since WHEN] [--until WHEN] [--json]

Every path the backup knows (in the mirror or in any increment) that matches any mask, with its
versions, newest first. A mask without "/" matches the file name ("*.py"), one with "/" the whole
path relative to the source ("Projects/**/*.md"); * ? [..] and ** as in the config's patterns.
Without a mask every path matches.
  --deleted       only paths that are no longer in the mirror
  --since WHEN    only versions recorded in that increment or later
  --until WHEN    only versions recorded in that increment or earlier`,
  history: `Usage: backup-tool [WHERE] history PATH [--json]

Every version of PATH (relative to the source, or absolute inside it), newest first: the increment
that recorded it, new/changed/deleted, size, mtime, sha256, and where its content is
(increment, mirror, not-recoverable, unavailable).`,
  restore: `Usage: backup-tool [WHERE] restore PATH… [--at WHEN] [--to DIR] [--force] [--dry-run] [--json]

Restores each PATH (a file or a folder with everything below it) as it was at WHEN (default: the
latest state; a path that is deleted now: its last version). PATH goes to its place in the source
folder, or to DIR/PATH with --to DIR.
  --at WHEN    the increment to restore from
  --to DIR     write under DIR instead of the source folder
  --force      replace existing files and symlinks that have other content
  --dry-run    list what would be written; write nothing
Existing identical files are left as they are (their mode and times are set). A folder where a file
must go, or the reverse, is a conflict even with --force. Nothing is ever deleted.`,
  recreate: `Usage: backup-tool [WHERE] recreate [--at WHEN] [--to DIR] [--force] [--dry-run] [--json]

Writes the whole selection as it was at WHEN (default: the latest state) into DIR (default: the
source folder). Tracked files, folders (empty ones too) and symlinks are exact; an untracked file
is written when the mirror still holds the version it had then, and listed on stderr as not
recoverable otherwise (exit 0: untracked files keep only their current version by design).
Options as for restore.`,
  diff: `Usage: backup-tool [WHERE] diff FROM [TO] [--json]

Paths added, changed (with what changed: type, size, content, mtime, mode, target, tracked) and
deleted between the state at FROM and the state at TO (default: the latest state).`,
  verify: `Usage: backup-tool [WHERE] verify [--data] [--json]

Checks, reading only: the metadata is readable; every entry of the current state is in the mirror
with its type, size and (files) mtime within 1 s; the mirror holds nothing else; every increment's
tracked versions are under its files/ and deleted/ folders with their recorded sizes, and nothing
unlisted is there; no temporary file is left. --data also re-reads every stored file and checks its
sha256. Each problem is named; any problem exits 1.`,
};
