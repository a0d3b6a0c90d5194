/** `tokenhub` command line: one subcommand per job, each in its own module. */
import { crdsCommand } from './crds.js';
import { validateCommand } from './validate.js';
import { keyCommand } from './key.js';

export type Command = (args: string[]) => Promise<number>;

interface CommandInfo {
  readonly run: () => Promise<Command>;
  readonly summary: string;
}

/** Lazy imports keep `tokenhub validate` from loading fastify, ioredis or the Kubernetes client. */
const COMMANDS: Readonly<Record<string, CommandInfo>> = {
  crds: { run: async () => crdsCommand, summary: 'write the CRDs generated from the schemas: crds --out DIR' },
  validate: { run: async () => validateCommand, summary: 'check manifests offline: validate -f PATH...' },
  key: { run: async () => keyCommand, summary: 'key material: key generate | key hash (reads the key on stdin)' },
  gateway: { run: async () => (await import('../gateway/command.js')).gatewayCommand, summary: 'run the gateway: gateway --config PATH | --kubernetes' },
  demo: { run: async () => (await import('../gateway/demo.js')).demoCommand, summary: 'run the gateway on examples/ with an embedded mock upstream' },
  'mock-upstream': { run: async () => (await import('../mock-upstream/command.js')).mockUpstreamCommand, summary: 'run the mock OpenAI-compatible upstream' },
  operator: { run: async () => (await import('../operator/command.js')).operatorCommand, summary: 'run the operator (KUBECONFIG or in-cluster)' },
  usage: { run: async () => (await import('../usage/command.js')).usageCommand, summary: 'usage per key and model from Redis; usage recharge' },
};

function help(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(14)} ${c.summary}`);
  return `usage: tokenhub <command> [options]\n\ncommands:\n${lines.join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`tokenhub: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  return (await command.run())(rest);
}
