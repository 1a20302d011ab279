import { EXIT, type ExitCode } from '../io/errors.js';
import { VERSION } from '../version.js';

export async function main(argv: string[]): Promise<ExitCode> {
  if (argv.includes('--version')) {
    process.stdout.write(`hardback ${VERSION}\n`);
    return EXIT.ok;
  }
  process.stderr.write('backup-tool: not yet implemented\n');
  return EXIT.usage;
}
