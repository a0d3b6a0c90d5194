/**
 * Rotation without downtime, over real HTTP: an ApiKey with a new credential and its old one as
 * `previousCredential` (hash or Secret) with `notAfter` accepts both, as one key (same limits,
 * same usage), until the deadline; from then on the old one is a 401 and the new one goes on.
 * The verdict carries both fingerprints and the deadline for status.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashKey, keyFingerprint } from '../../src/keys/hash.js';
import { type TestGateway, compileYaml, expectOpenAIError, modelYaml, policyYaml, postChat, startTestGateway } from '../support/gateway.js';

const DEADLINE = Date.UTC(2026, 10, 28, 12, 0, 0);
let now = DEADLINE - 60_000;
const OLD = 'th-rotation-old';
const NEW = 'th-rotation-new';

const rotatingKey = (previous: string): string =>
  `---\napiVersion: tokenhub.io/v1alpha1\nkind: ApiKey\nmetadata: {name: rotating}\nspec:\n  credential: {hash: "${hashKey(NEW)}"}\n  previousCredential: ${previous}\n  quotaPolicies: [three]\n`;
const YAML =
  modelYaml({ name: 'm' }) +
  policyYaml('three', '{rateLimits: {rpm: 3}}') +
  rotatingKey(`{hash: "${hashKey(OLD)}", notAfter: "${new Date(DEADLINE).toISOString()}"}`);

let gw: TestGateway;
const send = (key: string) => postChat(gw.baseURL, { key, body: { model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] } });

beforeAll(async () => {
  gw = await startTestGateway({ yaml: YAML, clock: () => now });
});
afterAll(async () => gw?.close());

describe('previousCredential with notAfter', () => {
  it('status shows both fingerprints and the deadline', () => {
    const { verdicts } = compileYaml(YAML, { mockURL: gw.mock.url, now: new Date(now) });
    const v = verdicts.find((x) => x.ref.kind === 'ApiKey');
    expect(v).toMatchObject({
      ready: true,
      status: { keyPrefix: keyFingerprint(hashKey(NEW)), previousKeyPrefix: keyFingerprint(hashKey(OLD)), rotationDeadline: '2026-11-28T12:00:00.000Z' },
    });
  });

  it('accepts both keys as one key until the deadline: they share its limits', async () => {
    const res = [await send(OLD), await send(NEW), await send(OLD), await send(NEW)];
    expect(res.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    expect(gw.events.map((e) => e.keyId)).toEqual(['default/rotating', 'default/rotating', 'default/rotating', 'default/rotating']);
  });

  it('refuses the old key from the deadline on (401 api_key_expired), the new one goes on', async () => {
    now = DEADLINE - 1;
    gw.load(YAML);
    now = DEADLINE + 120_000; // the rpm window has passed too
    expectOpenAIError(await send(OLD), { status: 401, code: 'api_key_expired' });
    expect((await send(NEW)).status).toBe(200);
    // Recompiled after the deadline, the old credential is gone from the config and from status.
    gw.load(YAML);
    expectOpenAIError(await send(OLD), { status: 401, code: 'invalid_api_key' });
    const v = compileYaml(YAML, { mockURL: gw.mock.url, now: new Date(now) }).verdicts.find((x) => x.ref.kind === 'ApiKey');
    expect(v?.status).toEqual({ keyPrefix: keyFingerprint(hashKey(NEW)) });
  });

  it('takes the old key from a Secret too, and a previous equal to another key is a KeyConflict', () => {
    const secret = `---\napiVersion: v1\nkind: Secret\nmetadata: {name: old, labels: {tokenhub.io/credential: "true"}}\nstringData: {api-key: ${OLD}}\n`;
    const withSecret =
      modelYaml({ name: 'm' }) +
      policyYaml('three', '{rateLimits: {rpm: 3}}') +
      rotatingKey(`{secretRef: {name: old, key: api-key}, notAfter: "2030-01-01T00:00:00Z"}`);
    const { config } = compileYaml(withSecret + secret, { mockURL: gw.mock.url, now: new Date(now) });
    expect(config.keys.get(hashKey(OLD))?.id).toBe('default/rotating');
    expect(config.keys.get(hashKey(OLD))?.credentialNotAfter).toBe(Date.parse('2030-01-01T00:00:00Z'));
    const other = `---\napiVersion: tokenhub.io/v1alpha1\nkind: ApiKey\nmetadata: {name: another}\nspec:\n  credential: {hash: "${hashKey(OLD)}"}\n`;
    const { verdicts } = compileYaml(other + withSecret + secret, { mockURL: gw.mock.url, now: new Date(now) });
    expect(verdicts.find((x) => x.ref.name === 'rotating')).toMatchObject({ ready: false, reason: 'KeyConflict' });
  });
});
