/**
 * Rotating a generated key without downtime. Setting (or changing) the ApiKey annotation
 * `tokenhub.io/rotate` to any new value makes the operator write a fresh key into the Secret
 * and keep the old one beside it (`previous-api-key`) with a deadline (`previous-not-after`,
 * now + `tokenhub.io/rotation-grace`, default 24h). Gateways accept both until the deadline, so
 * clients move to the new key at their pace; after it, the old key is refused and removed from
 * the Secret at the next reconcile. The Secret records the annotation value it acted on
 * (`rotation`), so a value is acted on once. Pure: the patches to apply.
 */
import { GENERATED_SECRET_KEY, PREVIOUS_NOT_AFTER_KEY, PREVIOUS_SECRET_KEY, generatedSecretName } from '../../compile/keys.js';
import type { KubeObject } from '../../kube/client.js';
import type { ApiKey } from '../../schema/api-key.js';

export const ROTATE_ANNOTATION = 'tokenhub.io/rotate';
export const ROTATION_GRACE_ANNOTATION = 'tokenhub.io/rotation-grace';
/** Secret data key: the `tokenhub.io/rotate` value the Secret's current key answers. */
export const ROTATION_ID_KEY = 'rotation';
const DEFAULT_GRACE_MS = 24 * 3600_000;
const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/** `90s`, `15m`, `24h`, `7d` (or plain seconds); anything else is the default, 24h. */
export function graceMs(value: string | undefined): number {
  const m = /^(\d{1,7})([smhd]?)$/.exec(value?.trim() ?? '');
  return m === null ? DEFAULT_GRACE_MS : Number(m[1]) * (UNIT_MS[m[2] || 's'] ?? 1000);
}

export function rotateRequest(key: KubeObject): string | undefined {
  const v = key.metadata.annotations?.[ROTATE_ANNOTATION];
  return v === undefined || v.trim() === '' ? undefined : v;
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: unknown): string | undefined => (typeof s === 'string' ? Buffer.from(s, 'base64').toString('utf8') : undefined);

export interface SecretPatch {
  readonly namespace: string;
  readonly name: string;
  readonly apiKey: string;
  readonly kind: 'rotate' | 'expire';
  /** A JSON merge patch with the Secret's resourceVersion (a concurrent change makes it a 409). */
  readonly patch: { metadata: { resourceVersion: string }; data: Record<string, string | null> };
}

/** The rotations asked for and not yet done, and old keys whose window has ended. */
export function secretPatches(opts: { apiKeys: readonly KubeObject[]; secrets: readonly KubeObject[]; now: Date; newKey: () => string }): SecretPatch[] {
  const byName = new Map(opts.secrets.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  const out: SecretPatch[] = [];
  for (const key of opts.apiKeys) {
    const spec = key['spec'] as Partial<ApiKey['spec']> | undefined;
    if (spec?.credential?.generate === undefined || key.metadata.deletionTimestamp !== undefined) continue;
    const namespace = key.metadata.namespace ?? 'default';
    const name = generatedSecretName(key as unknown as ApiKey);
    const secret = byName.get(`${namespace}/${name}`);
    const data = (secret?.['data'] ?? {}) as Record<string, unknown>;
    const current = data[GENERATED_SECRET_KEY];
    if (secret === undefined || typeof current !== 'string') continue;
    const base = { namespace, name, apiKey: key.metadata.name };
    const resourceVersion = secret.metadata.resourceVersion ?? '';
    const asked = rotateRequest(key);
    if (asked !== undefined && unb64(data[ROTATION_ID_KEY]) !== asked) {
      const grace = graceMs(key.metadata.annotations?.[ROTATION_GRACE_ANNOTATION]);
      const notAfter = new Date(opts.now.getTime() + grace).toISOString();
      const patchData = {
        [GENERATED_SECRET_KEY]: b64(opts.newKey()),
        [PREVIOUS_SECRET_KEY]: current,
        [PREVIOUS_NOT_AFTER_KEY]: b64(notAfter),
        [ROTATION_ID_KEY]: b64(asked),
      };
      out.push({ ...base, kind: 'rotate', patch: { metadata: { resourceVersion }, data: patchData } });
      continue;
    }
    const until = Date.parse(unb64(data[PREVIOUS_NOT_AFTER_KEY]) ?? '');
    if (data[PREVIOUS_SECRET_KEY] !== undefined && !(until > opts.now.getTime())) {
      out.push({ ...base, kind: 'expire', patch: { metadata: { resourceVersion }, data: { [PREVIOUS_SECRET_KEY]: null, [PREVIOUS_NOT_AFTER_KEY]: null } } });
    }
  }
  return out;
}
