/** `tokenhub validate` as a GitOps pipeline runs it: the built CLI, real files, exit codes. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const run = promisify(execFile);

async function tokenhub(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run('node', [join(ROOT, 'bin/tokenhub.js'), ...args], { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('tokenhub validate', () => {
  it('passes the shipped examples/', async () => {
    const r = await tokenhub('validate', '-f', 'examples/');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/15 TokenHub object\(s\) in \d+ file\(s\): valid/);
  });

  it('--platform-namespace: checks the catalog is published from the platform namespace, as the cluster will', async () => {
    expect((await tokenhub('validate', '-f', 'examples/', '--platform-namespace', 'tokenhub')).code).toBe(0);
    const r = await tokenhub('validate', '-f', 'examples/models/', '--platform-namespace', 'platform');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /ModelRoute\/doubao-seed-2-0-pro-260215: .*only from the platform namespaces \(platform\); namespace tokenhub is not one of them \(NotPlatformNamespace\)/,
    );
  });

  it('fails a directory of broken manifests with one precise line per problem', async () => {
    const r = await tokenhub('validate', '-f', 'test/cli/testdata/broken');
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([
      'test/cli/testdata/broken/a-not-yaml.yaml:1: error: -: -: not valid YAML: Block collections are not allowed within flow collections (Unreadable)',
      'test/cli/testdata/broken/b-unknown-kind.yaml:2: error: Widget/w: kind: unknown kind "Widget" for tokenhub.io/v1alpha1; expected one of ModelRoute, ApiKey, QuotaPolicy (InvalidSpec)',
      'test/cli/testdata/broken/c-model.yaml:9: error: ModelRoute/m: spec.capabilities[1]: must be one of thinking, text, multimodal, tools, structuredOutput, visualGrounding, gui, code (InvalidSpec)',
      'test/cli/testdata/broken/c-model.yaml:10: error: ModelRoute/m: spec.limits.maxOutput: required field is missing (InvalidSpec)',
      'test/cli/testdata/broken/c-model.yaml:16: error: ModelRoute/m: spec.backends[0].timeoutSeconds: must be integer (InvalidSpec)',
      'test/cli/testdata/broken/d-key.yaml:7: error: ApiKey/k: spec.quotaPolicies: QuotaPolicy default/gold not found or not ready (PolicyNotFound)',
      'test/cli/testdata/broken/e-dup.yaml:7: error: ApiKey/k: metadata.name: also defined at test/cli/testdata/broken/d-key.yaml:1 (Duplicate)',
      'test/cli/testdata/broken/f-limits.yaml:12: error: ModelRoute/n: spec.limits.defaultMaxOutput: defaultMaxOutput must not exceed maxOutput (InvalidSpec)',
      'test/cli/testdata/broken/g-no-kind.yaml:1: error: document 1: kind: required field is missing (InvalidSpec)',
    ]);
    expect(r.stdout).toMatch(/9 error\(s\)/);
  });

  it('reports a missing path and a missing -f clearly, without a stack trace', async () => {
    const missing = await tokenhub('validate', '-f', 'no/such/dir');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no/such/dir:0: error: -: -: no such file or directory');
    const usage = await tokenhub('validate');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('give at least one file or directory with -f');
    expect(usage.stderr + missing.stderr).not.toMatch(/\n\s+at /);
  });
});
