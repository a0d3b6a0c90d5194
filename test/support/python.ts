/**
 * The official `openai` Python package for client tests: a cached virtualenv made by
 * scripts/python-venv.sh (pinned version). No skip: when Python cannot be provisioned the
 * test fails with the script's message, which says what to install.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');

export async function pythonWithOpenAI(): Promise<string> {
  try {
    const { stdout } = await run('bash', [join(ROOT, 'scripts/python-venv.sh')], { cwd: ROOT, timeout: 240_000 });
    const python = stdout.trim().split('\n').pop() ?? '';
    if (python === '') throw new Error('scripts/python-venv.sh printed no interpreter path');
    return python;
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    throw new Error(`cannot provision Python with the openai package: ${(e.stderr ?? '').trim() || e.message}`, { cause: err });
  }
}

/** Runs a Python file with the venv's interpreter; resolves with stdout, rejects with stderr. */
export async function runPython(opts: { python: string; script: string; args?: string[]; env?: Record<string, string> }): Promise<string> {
  try {
    const { stdout } = await run(opts.python, [opts.script, ...(opts.args ?? [])], {
      env: { ...process.env, ...opts.env },
      timeout: 60_000,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    throw new Error(`python ${opts.script} failed: ${(e.stderr ?? '').trim() || e.message}`, { cause: err });
  }
}
