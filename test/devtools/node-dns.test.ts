/** The single-node cluster's DNS (src/devtools/node-dns.ts): packet parsing and answers. */
import { describe, expect, it } from 'vitest';
import { buildResponse, parseQuery, serviceOf } from '../../src/devtools/node-dns.js';

/** A standard query (RD set) for `name`, type `type`, as a stub resolver sends it. */
function query(name: string, type = 1, id = 0x1234): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, type, 0, 1])]);
}

describe('node DNS', () => {
  it('maps <service>.<namespace>.svc.cluster.local and nothing else', () => {
    expect(serviceOf('tokenhub-redis.tokenhub.svc.cluster.local')).toEqual({ service: 'tokenhub-redis', namespace: 'tokenhub' });
    // What the search list makes of `tokenhub-redis.tokenhub.svc` before the right name.
    expect(serviceOf('tokenhub-redis.tokenhub.svc.tokenhub.svc.cluster.local')).toBeUndefined();
    expect(serviceOf('registry.npmjs.org')).toBeUndefined();
    expect(serviceOf('.svc.cluster.local')).toBeUndefined();
  });

  it('parses a query and answers it with A records after the echoed question', () => {
    const q = query('Kubernetes.default.svc.cluster.local');
    const parsed = parseQuery(q);
    expect(parsed).toMatchObject({ id: 0x1234, name: 'kubernetes.default.svc.cluster.local', type: 1, end: q.length });
    const res = buildResponse(q, parsed!, { rcode: 0, ips: ['10.96.0.1'] });
    expect(res.readUInt16BE(0)).toBe(0x1234);
    expect(res.readUInt16BE(2)).toBe(0x8580); // QR, AA, RD, RA, NOERROR
    expect(res.readUInt16BE(6)).toBe(1);
    expect([...res.subarray(res.length - 4)]).toEqual([10, 96, 0, 1]);
    expect(res.subarray(12, q.length)).toEqual(q.subarray(12));
  });

  it('answers AAAA for a known name with no records, and unknown names with NXDOMAIN', () => {
    const aaaa = query('a.b.svc.cluster.local', 28);
    const res = buildResponse(aaaa, parseQuery(aaaa)!, { rcode: 0, ips: ['10.96.0.9'] });
    expect(res.readUInt16BE(6)).toBe(0);
    const nx = buildResponse(aaaa, parseQuery(aaaa)!, { rcode: 3, ips: [] });
    expect(nx.readUInt16BE(2) & 0xf).toBe(3);
  });

  it('ignores malformed packets: short, no question, labels past the end', () => {
    expect(parseQuery(Buffer.alloc(5))).toBeUndefined();
    expect(parseQuery(Buffer.alloc(12))).toBeUndefined();
    const bad = query('abc.example');
    bad[12] = 60;
    expect(parseQuery(bad)).toBeUndefined();
  });
});
