/**
 * Where a gateway's config comes from, behind one interface: manifest files (`--config`) or the
 * cluster (`--kubernetes`). The runtime (../runtime.ts) makes a source with the holder, compiler
 * and logger it owns, starts it before listening and stops it on close.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Compiler } from '../../compile/compile.js';
import type { Tenancy } from '../../compile/tenancy.js';
import type { KubeClient } from '../../kube/client.js';
import type { ConfigHolder } from './config-holder.js';
import { FileConfigSource, type FileSourceOptions } from './file-source.js';
import { KubeConfigSource } from './kube-source.js';

export interface ConfigSource {
  /** First load. Files throw on an invalid config; the cluster source starts its watches and returns. */
  start(): Promise<void>;
  stop(): void;
  /** Ready to serve (the cluster source: every watch synced and a config published). */
  ready(): boolean;
  /** Re-read now (files only). */
  reload?(): Promise<unknown>;
  /** Release what the source owns beyond its watches (the cluster client). */
  close(): Promise<void>;
}

export interface SourceContext {
  readonly holder: ConfigHolder;
  readonly compiler: Compiler;
  /** The compiler's settings, for a source that compiles in a worker thread of its own. */
  readonly tenancy: Tenancy;
  readonly log: FastifyBaseLogger;
}

export type ConfigSourceFactory = (ctx: SourceContext) => ConfigSource;

/** Manifest files and directories, watched and reloaded on change. */
export function fileSource(opts: Omit<FileSourceOptions, keyof SourceContext>): ConfigSourceFactory {
  return (ctx) => {
    const files = new FileConfigSource({ ...opts, ...ctx });
    return {
      start: () => files.start(),
      stop: () => files.stop(),
      ready: () => true,
      reload: () => files.reload(),
      close: async () => {},
    };
  };
}

export interface ClusterSourceOptions {
  readonly client: KubeClient;
  /** Empty: every namespace. */
  readonly namespaces: readonly string[];
  readonly watchSeconds?: number;
}

/** ModelRoutes, ApiKeys, QuotaPolicies and Secrets from the API server; closes the client on close. */
export function clusterSource(opts: ClusterSourceOptions): ConfigSourceFactory {
  return (ctx) => {
    const kube = new KubeConfigSource({
      ...ctx,
      client: opts.client,
      namespaces: opts.namespaces,
      ...(opts.watchSeconds ? { watchSeconds: opts.watchSeconds } : {}),
    });
    return {
      start: async () => kube.start(),
      stop: () => kube.stop(),
      ready: () => kube.ready,
      close: () => opts.client.close(),
    };
  };
}
