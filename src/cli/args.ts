/** Argument parsing shared by subcommands: node's parseArgs with errors turned into messages. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `--help` or `-h` among a command's arguments: runCommand prints its usage and exits 0. */
export class HelpRequested extends Error {
  override readonly name = 'HelpRequested';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Whether the arguments ask for help (before a `--`, after which everything is an operand). */
export function wantsHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

export function parse<T extends Options>(args: string[], options: T, allowPositionals = false) {
  if (wantsHelp(args)) throw new HelpRequested();
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** Runs a command body; usage errors print one line and exit 2, never a stack trace; help exits 0. */
export async function runCommand(usage: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(`usage: ${usage}\n`);
      return 0;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`tokenhub: ${err.message}\nusage: ${usage}\n`);
      return 2;
    }
    throw err;
  }
}
