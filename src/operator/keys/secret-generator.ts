/**
 * Generated keys: an ApiKey with `credential.generate` gets a Secret holding a fresh random key,
 * owned by the ApiKey (deleted with it). Created when absent from the cache; rewritten only to
 * rotate it (the `tokenhub.io/rotate` annotation, see rotation.ts), or, as before, by deleting
 * it. The clear key goes from generateKey() into the request body and nowhere else: not a log
 * line, not a status, not a metric.
 */
import type { FastifyBaseLogger } from 'fastify';
import { GENERATED_SECRET_KEY, generatedSecretName } from '../../compile/keys.js';
import { CREDENTIAL_LABEL } from '../../compile/objects.js';
import { type KubeClient, type KubeObject, isConflict } from '../../kube/client.js';
import { secretsPath } from '../../kube/resources.js';
import { generateKey } from '../../keys/hash.js';
import { GROUP_VERSION } from '../../schema/common.js';
import type { ApiKey } from '../../schema/api-key.js';
import type { OperatorMetrics } from '../metrics.js';
import { ROTATION_ID_KEY, rotateRequest, secretPatches } from './rotation.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';

export interface SecretGeneratorOptions {
  readonly client: KubeClient;
  readonly log: Pick<FastifyBaseLogger, 'info' | 'warn'>;
  readonly metrics: OperatorMetrics;
}

/** Pure: the generated-key Secrets that should exist and do not (namespace and name). */
export function missingSecrets(apiKeys: readonly KubeObject[], secrets: readonly KubeObject[]): { key: KubeObject; name: string }[] {
  const existing = new Set(secrets.map((s) => `${s.metadata.namespace}/${s.metadata.name}`));
  const missing: { key: KubeObject; name: string }[] = [];
  for (const key of apiKeys) {
    const spec = key['spec'] as Partial<ApiKey['spec']> | undefined;
    if (spec?.credential?.generate === undefined || key.metadata.deletionTimestamp !== undefined) continue;
    const name = generatedSecretName(key as unknown as ApiKey);
    if (!existing.has(`${key.metadata.namespace}/${name}`)) missing.push({ key, name });
  }
  return missing;
}

/** The Secret for one key: a new random value, a label saying who made it, the ApiKey as owner. */
export function generatedSecret(key: KubeObject, name: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace: key.metadata.namespace ?? 'default',
      // The credential label too: TokenHub watches only Secrets that carry it.
      labels: { [MANAGED_BY_LABEL]: 'tokenhub', [CREDENTIAL_LABEL]: 'true' },
      ownerReferences: [{ apiVersion: GROUP_VERSION, kind: 'ApiKey', name: key.metadata.name, uid: key.metadata.uid, controller: true }],
    },
    type: 'Opaque',
    data: {
      [GENERATED_SECRET_KEY]: Buffer.from(generateKey(), 'utf8').toString('base64'),
      // A rotate annotation present at creation is answered by this first key.
      ...(rotateRequest(key) === undefined ? {} : { [ROTATION_ID_KEY]: Buffer.from(rotateRequest(key) ?? '', 'utf8').toString('base64') }),
    },
  };
}

export class SecretGenerator {
  constructor(private readonly opts: SecretGeneratorOptions) {}

  /** Creates what is missing, rotates what was asked to; true when every write succeeded (or was not needed). */
  async ensure(apiKeys: readonly KubeObject[], secrets: readonly KubeObject[], now: Date = new Date()): Promise<boolean> {
    let ok = await this.rotate(apiKeys, secrets, now);
    for (const { key, name } of missingSecrets(apiKeys, secrets)) {
      const namespace = key.metadata.namespace ?? 'default';
      try {
        await this.opts.client.request('POST', secretsPath(namespace), { body: generatedSecret(key, name) });
        this.opts.metrics.secretsCreated += 1;
        this.opts.log.info({ namespace, secret: name, apiKey: key.metadata.name }, 'generated key Secret created');
      } catch (err) {
        // AlreadyExists: our cache was behind, or someone else made it; either way it is there.
        if (isConflict(err)) continue;
        ok = false;
        this.opts.metrics.secretErrors += 1;
        this.opts.log.warn({ namespace, secret: name, err: { message: (err as Error).message } }, 'could not create the key Secret; retrying');
      }
    }
    return ok;
  }

  private async rotate(apiKeys: readonly KubeObject[], secrets: readonly KubeObject[], now: Date): Promise<boolean> {
    let ok = true;
    for (const p of secretPatches({ apiKeys, secrets, now, newKey: generateKey })) {
      try {
        await this.opts.client.request('PATCH', `${secretsPath(p.namespace)}/${p.name}`, { body: p.patch, contentType: 'application/merge-patch+json' });
        this.opts.log.info(
          { namespace: p.namespace, secret: p.name, apiKey: p.apiKey },
          p.kind === 'rotate' ? 'generated key rotated; the old one is accepted until its deadline' : 'rotated-out key removed after its deadline',
        );
      } catch (err) {
        // A 409: the Secret changed since the cache saw it; the next reconcile sees the new one.
        ok = false;
        if (!isConflict(err)) this.opts.metrics.secretErrors += 1;
        this.opts.log.warn({ namespace: p.namespace, secret: p.name, err: { message: (err as Error).message } }, 'could not update the key Secret; retrying');
      }
    }
    return ok;
  }
}
