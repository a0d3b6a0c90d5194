/**
 * Cluster DNS for the single-node dev cluster (hack/node/up.sh): answers
 * `<service>.<namespace>.svc.cluster.local` A queries from the API server, so pods reach
 * Services by name the way CoreDNS' kubernetes plugin lets them. Building CoreDNS from source
 * would add minutes to a cold start for four lines of behaviour we need; this is UDP only, A
 * records only, and every other name is NXDOMAIN (the node has no route out anyway).
 *
 *   node dist/src/devtools/node-dns.js --listen 10.244.0.1 --kubeconfig FILE [--port 53]
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { parseArgs } from 'node:util';
import { CoreV1Api, DiscoveryV1Api, KubeConfig } from '@kubernetes/client-node';

const DOMAIN = 'svc.cluster.local';
const TYPE_A = 1;
const CLASS_IN = 1;
const RCODE_NXDOMAIN = 3;
const RCODE_SERVFAIL = 2;
const CACHE_MS = 1_000;

export interface DnsQuestion {
  id: number;
  flags: number;
  name: string;
  type: number;
  /** Offset just past the question section: the answer is appended there. */
  end: number;
}

/** Parses the first question of a query; undefined for anything malformed or compressed. */
export function parseQuery(msg: Buffer): DnsQuestion | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let off = 12;
  while (off < msg.length) {
    const len = msg[off] ?? 0;
    if (len === 0) break;
    if (len > 63 || off + 1 + len > msg.length) return undefined;
    labels.push(msg.toString('latin1', off + 1, off + 1 + len).toLowerCase());
    off += 1 + len;
  }
  if (off + 5 > msg.length) return undefined;
  return {
    id: msg.readUInt16BE(0),
    flags: msg.readUInt16BE(2),
    name: labels.join('.'),
    type: msg.readUInt16BE(off + 1),
    end: off + 5,
  };
}

/** A response to `query`: rcode plus A records for `ips` (only when it asked for A). */
export function buildResponse(query: Buffer, q: DnsQuestion, answer: { rcode: number; ips: string[] }): Buffer {
  const ips = q.type === TYPE_A && answer.rcode === 0 ? answer.ips : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  // QR=1, opcode and RD copied from the query, AA=1, RA=1.
  header.writeUInt16BE(0x8000 | (q.flags & 0x7900) | 0x0400 | 0x0080 | answer.rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(ips.length, 6);
  const records = ips.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the question's name
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(5, 6); // TTL: short, Services come and go in tests
    rr.writeUInt16BE(4, 10);
    ip.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
    return rr;
  });
  return Buffer.concat([header, query.subarray(12, q.end), ...records]);
}

/** `<svc>.<ns>.svc.cluster.local` → {service, namespace}; anything else → undefined. */
export function serviceOf(name: string): { service: string; namespace: string } | undefined {
  if (!name.endsWith(`.${DOMAIN}`)) return undefined;
  const parts = name.slice(0, -DOMAIN.length - 1).split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return undefined;
  return { service: parts[0], namespace: parts[1] };
}

class ServiceResolver {
  private readonly core: CoreV1Api;
  private readonly discovery: DiscoveryV1Api;
  private readonly cache = new Map<string, { at: number; ips: string[] | undefined }>();

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.discovery = kc.makeApiClient(DiscoveryV1Api);
  }

  /** ClusterIP, or the ready endpoint addresses of a headless Service; undefined: no such Service. */
  async resolve(service: string, namespace: string): Promise<string[] | undefined> {
    const key = `${namespace}/${service}`;
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < CACHE_MS) return hit.ips;
    const ips = await this.lookup(service, namespace);
    this.cache.set(key, { at: Date.now(), ips });
    return ips;
  }

  private async lookup(service: string, namespace: string): Promise<string[] | undefined> {
    let clusterIP: string | undefined;
    try {
      clusterIP = (await this.core.readNamespacedService({ name: service, namespace })).spec?.clusterIP;
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
    if (clusterIP && clusterIP !== 'None') return [clusterIP];
    const slices = await this.discovery.listNamespacedEndpointSlice({
      namespace,
      labelSelector: `kubernetes.io/service-name=${service}`,
    });
    return slices.items.flatMap((s) => s.endpoints.filter((e) => e.conditions?.ready !== false).flatMap((e) => e.addresses));
  }
}

async function answer(resolver: ServiceResolver, q: DnsQuestion): Promise<{ rcode: number; ips: string[] }> {
  const svc = serviceOf(q.name);
  if (!svc) return { rcode: RCODE_NXDOMAIN, ips: [] };
  try {
    const ips = await resolver.resolve(svc.service, svc.namespace);
    return ips === undefined ? { rcode: RCODE_NXDOMAIN, ips: [] } : { rcode: 0, ips };
  } catch {
    return { rcode: RCODE_SERVFAIL, ips: [] };
  }
}

function main(): void {
  const { values } = parseArgs({
    options: { listen: { type: 'string' }, port: { type: 'string', default: '53' }, kubeconfig: { type: 'string' } },
  });
  if (!values.listen || !values.kubeconfig) {
    process.stderr.write('usage: node-dns.js --listen IP --kubeconfig FILE [--port 53]\n');
    process.exit(2);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(values.kubeconfig);
  const resolver = new ServiceResolver(kc);
  const sock = createSocket('udp4');
  sock.on('message', (msg: Buffer, from: RemoteInfo) => {
    const q = parseQuery(msg);
    if (!q) return;
    void answer(resolver, q).then((a) => sock.send(buildResponse(msg, q, a), from.port, from.address));
  });
  sock.bind(Number(values.port), values.listen, () => {
    process.stderr.write(`[node-dns] serving *.${DOMAIN} on ${values.listen}:${values.port}\n`);
  });
}

if (process.argv[1]?.endsWith('node-dns.js')) main();
