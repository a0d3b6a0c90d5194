/**
 * Every subcommand answers --help (and -h) with its usage on stdout and exit 0, before it
 * touches a port, a cluster or Redis. `tokenhub gateway --help` printed "Unknown option".
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type RunResult, run } from '../../src/devtools/control-plane-process.js';

const ROOT = join(import.meta.dirname, '../..');

function tokenhub(args: string[]): Promise<RunResult> {
  return run(process.execPath, [join(ROOT, 'bin/tokenhub.js'), ...args], { timeoutMs: 20_000 });
}

const CASES: [string[], RegExp][] = [
  [['crds'], /tokenhub crds \[--out DIR\]/],
  [['validate'], /tokenhub validate -f PATH/],
  [['key'], /tokenhub key generate/],
  [['key', 'generate'], /tokenhub key generate/],
  [['key', 'hash'], /tokenhub key hash/],
  [['gateway'], /tokenhub gateway --config PATH[\s\S]*--kubernetes/],
  [['gateway', '--kubernetes'], /tokenhub gateway --kubernetes \[--namespace/],
  [['demo'], /tokenhub demo \[--port N\]/],
  [['mock-upstream'], /tokenhub mock-upstream \[options\]/],
  [['operator'], /tokenhub operator \[--namespace/],
  [['usage'], /tokenhub usage \[--redis URL\]/],
  [['usage', 'recharge'], /tokenhub usage recharge --key/],
];

describe('tokenhub <command> --help', () => {
  it.each(CASES)('%j --help prints its usage and exits 0', async (cmd, usage) => {
    for (const flag of ['--help', '-h']) {
      const res = await tokenhub([...cmd, flag]);
      expect(res.code, `${cmd.join(' ')} ${flag}: ${res.stderr}`).toBe(0);
      expect(res.stdout).toMatch(usage);
      expect(res.stderr).toBe('');
    }
  });

  it('a help flag after the other options still wins (and starts nothing)', async () => {
    const res = await tokenhub(['gateway', '--config', 'examples/', '--port', '1', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^usage: tokenhub gateway/);
  });

  it('an unknown option is still a usage error (exit 2), not help', async () => {
    const res = await tokenhub(['gateway', '--helpful']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/Unknown option '--helpful'/);
  });

  it('the top level lists every command', async () => {
    const res = await tokenhub(['--help']);
    expect(res.code).toBe(0);
    for (const name of ['crds', 'validate', 'key', 'gateway', 'demo', 'mock-upstream', 'operator', 'usage']) expect(res.stdout).toContain(`  ${name} `);
  });
});
