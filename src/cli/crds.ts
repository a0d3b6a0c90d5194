/** `tokenhub crds --out DIR`: writes the generated CRDs (or prints them with no --out). */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateCrds } from '../crds/generate.js';
import { parse, runCommand } from './args.js';

const USAGE = 'tokenhub crds [--out DIR]';

export async function crdsCommand(args: string[]): Promise<number> {
  return runCommand(USAGE, async () => {
    const { values } = parse(args, { out: { type: 'string', short: 'o' } });
    const files = generateCrds();
    if (values.out === undefined) {
      process.stdout.write(files.map((f) => f.content).join('---\n'));
      return 0;
    }
    await mkdir(values.out, { recursive: true });
    for (const f of files) await writeFile(join(values.out, f.name), f.content);
    process.stdout.write(`wrote ${files.length} CRDs to ${values.out}\n`);
    return 0;
  });
}
