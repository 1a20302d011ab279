import type { ExitCode } from '../../io/errors.js';
import type { ToolContext } from './context.js';

/** The options of every command, parsed once (tool.ts checks which ones a command accepts). */
export interface ToolOptions {
  json: boolean;
  mask: string[];
  deleted: boolean;
  since?: string;
  until?: string;
  at?: string;
  to?: string;
  force: boolean;
  dryRun: boolean;
  data: boolean;
  /** prune's --keep-* values, as given. */
  keep: Record<string, unknown>;
}

export type CommandRun = (ctx: ToolContext, args: readonly string[], opts: ToolOptions) => Promise<ExitCode>;
