import type { Progress, Reporter } from '../apply/reporter.js';
import { humanBytes, humanDuration } from './format.js';

/**
 * Progress on stderr when it is a terminal: one line, rewritten at most 10 times a second
 * (files, bytes, rate, ETA). Nothing of it is ever written when stderr is not a terminal.
 */
export class ProgressLine {
  private last = 0;
  private shown = false;
  private readonly started = Date.now();
  private readonly stream: NodeJS.WriteStream;
  constructor(stream: NodeJS.WriteStream) {
    this.stream = stream;
  }
  update(p: Progress): void {
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    const secs = (now - this.started) / 1000;
    let line: string;
    if (p.phase === 'scan') line = `scanning: ${p.files.toLocaleString('en-US')} entries`;
    else {
      const rate = secs > 0 ? p.bytes / secs : 0;
      const total = p.totalBytes ?? 0;
      const eta = rate > 0 && total > p.bytes ? ` ETA ${humanDuration(((total - p.bytes) / rate) * 1000)}` : '';
      const files = p.totalFiles !== undefined ? `${p.files}/${p.totalFiles}` : `${p.files}`;
      line = `${p.phase === 'hash' ? 'hashing' : 'copying'}: ${files} files, ${humanBytes(p.bytes)}${total ? ` of ${humanBytes(total)}` : ''}, ${humanBytes(rate)}/s${eta}`;
    }
    const width = this.width();
    this.stream.write(`\r${line.slice(0, width).padEnd(width)}`);
    this.shown = true;
  }
  /** Usable columns: a pseudo-terminal may report 0 columns (script, CI); never write past 79. */
  private width(): number {
    const cols = this.stream.columns;
    return typeof cols === 'number' && cols > 1 ? Math.min(cols - 1, 79) : 79;
  }
  clear(): void {
    if (!this.shown) return;
    this.stream.write(`\r${' '.repeat(this.width())}\r`);
    this.shown = false;
  }
}

export interface CliReporterOptions {
  quiet: boolean;
  verbose: boolean;
  json: boolean;
  stderr: NodeJS.WriteStream;
}

/** The reporter the `backup` command uses: notices to stderr, actions with --verbose, progress on a TTY. */
export function cliReporter(o: CliReporterOptions): Reporter & { done(): void } {
  const progress = o.stderr.isTTY === true && !o.quiet && !o.json ? new ProgressLine(o.stderr) : undefined;
  const say = (line: string) => {
    progress?.clear();
    o.stderr.write(`${line}\n`);
  };
  return {
    notice: (m) => {
      if (!o.quiet) say(`hardback: ${m}`);
    },
    progress: (p) => progress?.update(p),
    action: (kind, path, detail) => {
      if (kind === 'error') return; // errors are listed once, in the summary
      if (o.verbose && !o.json) say(`  ${kind.padEnd(8)} ${path}${detail !== undefined ? `  (${detail})` : ''}`);
    },
    done: () => progress?.clear(),
  };
}
