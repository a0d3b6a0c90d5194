/** REST paths of the resources TokenHub reads and writes. */
import { API_GROUP, API_VERSION } from '../schema/common.js';
import { KINDS, type KindName } from '../schema/kinds.js';

const ns = (namespace: string | undefined): string => (namespace === undefined ? '' : `/namespaces/${namespace}`);

export function tokenhubPath(kind: KindName, opts: { namespace?: string; name?: string; status?: boolean } = {}): string {
  const base = `/apis/${API_GROUP}/${API_VERSION}${ns(opts.namespace)}/${KINDS[kind].plural}`;
  if (opts.name === undefined) return base;
  return `${base}/${opts.name}${opts.status === true ? '/status' : ''}`;
}

export function secretsPath(namespace?: string, name?: string): string {
  return `/api/v1${ns(namespace)}/secrets${name === undefined ? '' : `/${name}`}`;
}

export const corePath = (namespace: string, plural: string, name?: string): string =>
  `/api/v1/namespaces/${namespace}/${plural}${name === undefined ? '' : `/${name}`}`;

export const groupPath = (groupVersion: string, namespace: string, plural: string, name?: string): string =>
  `/apis/${groupVersion}/namespaces/${namespace}/${plural}${name === undefined ? '' : `/${name}`}`;
