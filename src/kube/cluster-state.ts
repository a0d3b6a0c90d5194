/**
 * The cluster as TokenHub sees it: caches of ModelRoutes, ApiKeys, QuotaPolicies and Secrets in
 * the watched namespaces (or all; Secrets only when labelled tokenhub.io/credential=true), turned into compile input on demand. Shared by the operator
 * and the gateway's cluster mode.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { CompileInput, SecretInput } from '../compile/types.js';
import { CREDENTIAL_SELECTOR } from '../compile/objects.js';
import { KIND_NAMES } from '../schema/kinds.js';
import type { KubeClient, KubeObject } from './client.js';
import { type Informer, informerFactory } from './informer.js';
import { secretsPath, tokenhubPath } from './resources.js';

export interface ClusterStateOptions {
  readonly client: KubeClient;
  /** Namespaces to watch; empty means all. */
  readonly namespaces: readonly string[];
  readonly log: FastifyBaseLogger;
  readonly onChange: () => void;
  readonly watchSeconds?: number;
  /** No onChange for status-only updates (see InformerOptions.ignoreStatusOnly): the gateway's choice. */
  readonly ignoreStatusOnly?: boolean;
}

export class ClusterState {
  private readonly objects: Informer[] = [];
  private readonly secrets: Informer[] = [];

  constructor(opts: ClusterStateOptions) {
    const scopes = opts.namespaces.length === 0 ? [undefined] : [...opts.namespaces];
    const make = informerFactory({
      client: opts.client,
      log: opts.log,
      onChange: opts.onChange,
      ignoreStatusOnly: opts.ignoreStatusOnly === true,
      ...(opts.watchSeconds ? { watchSeconds: opts.watchSeconds } : {}),
    });
    for (const namespace of scopes) {
      for (const kind of KIND_NAMES) this.objects.push(make(tokenhubPath(kind, namespace === undefined ? {} : { namespace })));
      // Only Secrets that opted in: no other Secret ever reaches this process's memory.
      this.secrets.push(make(secretsPath(namespace), CREDENTIAL_SELECTOR));
    }
  }

  start(): void {
    for (const i of [...this.objects, ...this.secrets]) i.start();
  }

  stop(): void {
    for (const i of [...this.objects, ...this.secrets]) i.stop();
  }

  /** True once every cache has listed at least once: never publish a config before that. */
  get synced(): boolean {
    return [...this.objects, ...this.secrets].every((i) => i.synced);
  }

  tokenhubObjects(): KubeObject[] {
    return this.objects.flatMap((i) => i.list());
  }

  secretList(): KubeObject[] {
    return this.secrets.flatMap((i) => i.list());
  }

  compileInput(): CompileInput {
    return { objects: this.tokenhubObjects(), secrets: this.secretList().map(decodeSecret) };
  }
}

export function decodeSecret(s: KubeObject): SecretInput {
  const data: Record<string, string> = {};
  const raw = (s['data'] ?? {}) as Record<string, unknown>;
  for (const [k, v] of Object.entries(raw)) if (typeof v === 'string') data[k] = Buffer.from(v, 'base64').toString('utf8');
  return { namespace: s.metadata.namespace ?? 'default', name: s.metadata.name, data, labels: { ...s.metadata.labels } };
}
