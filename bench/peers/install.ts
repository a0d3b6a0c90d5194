/**
 * Peers, installed on demand into a cache outside the repository (never a dependency of
 * TokenHub): Portkey's gateway from npm, LiteLLM's proxy from PyPI in its own virtualenv. Pinned
 * versions, so the table can be reproduced; a finished install is marked and reused.
 *
 *   TOKENHUB_PEERS_CACHE   the cache folder (~/.cache/tokenhub/peers)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const PORTKEY_VERSION = '1.15.2';
export const LITELLM_VERSION = '1.108.7';

export function peersCache(): string {
  return process.env['TOKENHUB_PEERS_CACHE'] || join(homedir(), '.cache', 'tokenhub', 'peers');
}

function run(command: string, args: readonly string[], opts: { cwd: string; logFile: string }): Promise<void> {
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(command, [...args], { cwd: opts.cwd, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}; see ${opts.logFile}`))));
  });
}

/** Portkey's gateway; returns the script to run with node. */
export async function ensurePortkey(log: (m: string) => void): Promise<string> {
  const dir = join(peersCache(), `portkey-${PORTKEY_VERSION}`);
  const script = join(dir, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');
  if (existsSync(join(dir, '.installed')) && existsSync(script)) return script;
  mkdirSync(dir, { recursive: true });
  log(`installing @portkey-ai/gateway@${PORTKEY_VERSION} into ${dir}`);
  if (!existsSync(join(dir, 'package.json'))) writeFileSync(join(dir, 'package.json'), '{"name":"peers-portkey","private":true}\n');
  // --ignore-scripts: nothing of a benchmark peer runs at install time.
  await run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', `@portkey-ai/gateway@${PORTKEY_VERSION}`], {
    cwd: dir,
    logFile: join(dir, 'install.log'),
  });
  if (!existsSync(script)) throw new Error(`Portkey installed but ${script} is missing`);
  writeFileSync(join(dir, '.installed'), `${PORTKEY_VERSION}\n`);
  return script;
}

/**
 * LiteLLM's proxy in a virtualenv of its own; returns the `litellm` executable. 1.108.7: the newest
 * 1.108 whose [proxy] extra resolves on PyPI here (1.108.8 and later pin .postN builds of
 * litellm-enterprise / litellm-proxy-extras that the index does not serve).
 */
export async function ensureLiteLLM(log: (m: string) => void): Promise<string> {
  const dir = join(peersCache(), `litellm-${LITELLM_VERSION}`);
  const bin = join(dir, 'bin', 'litellm');
  if (existsSync(join(dir, '.installed')) && existsSync(bin)) return bin;
  mkdirSync(peersCache(), { recursive: true });
  const logFile = join(peersCache(), `litellm-${LITELLM_VERSION}.install.log`);
  log(`installing litellm[proxy]==${LITELLM_VERSION} into the virtualenv ${dir} (a few minutes)`);
  if (!existsSync(join(dir, 'bin', 'pip'))) await run(process.env['PYTHON'] || 'python3', ['-m', 'venv', dir], { cwd: peersCache(), logFile });
  await run(join(dir, 'bin', 'pip'), ['install', '--disable-pip-version-check', '-q', `litellm[proxy]==${LITELLM_VERSION}`], { cwd: peersCache(), logFile });
  if (!existsSync(bin)) throw new Error(`LiteLLM installed but ${bin} is missing`);
  writeFileSync(join(dir, '.installed'), `${LITELLM_VERSION}\n`);
  return bin;
}
