/** `tokenhub key generate` prints a new key and its hash; `tokenhub key hash` hashes stdin. */
import { generateKey, hashKey } from '../keys/hash.js';
import { HelpRequested, UsageError, runCommand, wantsHelp } from './args.js';

const USAGE = 'tokenhub key generate | tokenhub key hash < key.txt';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

export async function keyCommand(args: string[]): Promise<number> {
  return runCommand(USAGE, async () => {
    if (wantsHelp(args)) throw new HelpRequested();
    const [sub] = args;
    if (sub === 'generate') {
      const key = generateKey();
      process.stdout.write(`key:  ${key}\nhash: ${hashKey(key)}\n`);
      return 0;
    }
    if (sub === 'hash') {
      // From stdin, not argv: a key on the command line ends up in shell history and `ps`.
      const key = await readStdin();
      if (key === '') throw new UsageError('no key on stdin');
      process.stdout.write(`${hashKey(key)}\n`);
      return 0;
    }
    throw new UsageError(`unknown key subcommand ${JSON.stringify(sub ?? '')}`);
  });
}
