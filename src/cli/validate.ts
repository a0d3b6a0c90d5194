/** `tokenhub validate -f PATH...`: the offline pre-merge check for a GitOps repository. */
import { createCompiler } from '../compile/compile.js';
import { loadManifests } from '../manifests/load.js';
import { checkDocuments, formatCheckLine } from '../manifests/check.js';
import { UsageError, parse, runCommand } from './args.js';
import { namespacesOf } from './process.js';

const USAGE = 'tokenhub validate -f PATH [-f PATH...] [--namespace NS] [--platform-namespace NS[,NS...]]';

export async function validateCommand(args: string[]): Promise<number> {
  return runCommand(USAGE, async () => {
    const { values, positionals } = parse(
      args,
      {
        filename: { type: 'string', short: 'f', multiple: true },
        namespace: { type: 'string', short: 'n' },
        // As the cluster is set up: ModelRoutes elsewhere are NotPlatformNamespace errors.
        'platform-namespace': { type: 'string', multiple: true },
      },
      true,
    );
    const paths = [...(values.filename ?? []), ...positionals];
    if (paths.length === 0) throw new UsageError('give at least one file or directory with -f');
    const { docs, problems } = await loadManifests(paths);
    const platformNamespaces = namespacesOf(values['platform-namespace'] ?? [], undefined);
    const compiler = createCompiler(undefined, { platformNamespaces });
    const report = checkDocuments(docs, problems, { now: new Date(), defaultNamespace: values.namespace ?? 'default', compiler });
    for (const line of report.lines) {
      (line.severity === 'error' ? process.stderr : process.stdout).write(`${formatCheckLine(line)}\n`);
    }
    const verdict = report.errors === 0 ? 'valid' : `${report.errors} error(s)`;
    process.stdout.write(`${report.objects} TokenHub object(s) in ${new Set(docs.map((d) => d.file)).size} file(s): ${verdict}\n`);
    return report.errors === 0 ? 0 : 1;
  });
}
