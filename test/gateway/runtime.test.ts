/**
 * The one gateway runtime (src/gateway/runtime.ts) that file and cluster mode share: a failed
 * listen stops what started (only file mode did before), and cluster mode checks its port flags
 * before it connects anywhere (it used to pass them unchecked).
 */
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { portOf } from '../../src/cli/process.js';
import { type ConfigSource, fileSource } from '../../src/gateway/config/source.js';
import { kubernetesGateway } from '../../src/gateway/kubernetes-mode.js';
import { startRuntime } from '../../src/gateway/runtime.js';
import { MemoryLimitStore } from '../../src/limits/memory-store.js';

function fakeSource(): ConfigSource & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    start: async () => void calls.push('start'),
    stop: () => void calls.push('stop'),
    ready: () => true,
    close: async () => void calls.push('close'),
  };
}

describe('gateway runtime', () => {
  afterEach(() => vi.restoreAllMocks());

  it("stops the source and keeps the caller's store open when listen fails (port in use)", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as { port: number }).port;
    const source = fakeSource();
    const store = new MemoryLimitStore();
    const close = vi.spyOn(store, 'close');
    try {
      await expect(startRuntime({ source: () => source, port, host: '127.0.0.1', store, logger: false })).rejects.toThrow(/EADDRINUSE/);
      expect(source.calls).toEqual(['start', 'stop', 'close']);
      expect(close).not.toHaveBeenCalled();
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });

  it('is ready when its source says so (and a config is loaded), and closes source and store', async () => {
    const files = fileSource({ paths: [join(import.meta.dirname, '../../examples')] });
    let sourceReady = false;
    let closed = 0;
    const store = new MemoryLimitStore();
    const closeStore = vi.spyOn(store, 'close');
    const gw = await startRuntime({
      source: (ctx) => {
        const s = files(ctx);
        return { ...s, ready: () => sourceReady && s.ready(), close: async () => void closed++ };
      },
      port: 0,
      host: '127.0.0.1',
      store,
      logger: false,
    });
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(503);
    sourceReady = true;
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
    await gw.close();
    expect([closed, closeStore.mock.calls.length]).toEqual([1, 1]);
  });
});

describe('port flags', () => {
  it.each(['99999', '-1', '1.5', 'http', ''])('rejects %j', (bad) => {
    expect(() => portOf('port', bad, 8080)).toThrow(`invalid port ${bad}`);
  });

  it('takes 0 and 65535, and the fallback when absent', () => {
    expect(portOf('port', '0', 8080)).toBe(0);
    expect(portOf('port', '65535', 8080)).toBe(65535);
    expect(portOf('port', undefined, 8080)).toBe(8080);
  });

  it('cluster mode refuses a bad port with a usage error before loading a kubeconfig', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const code = await kubernetesGateway(['--kubernetes', '--port', '99999', '--kubeconfig', '/nonexistent/kubeconfig']);
    expect(code).toBe(2);
    expect(String(stderr.mock.calls[0]?.[0])).toContain('invalid port 99999');
  });
});
