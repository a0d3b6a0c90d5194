/**
 * Connections to one cleartext HTTP/2 (h2c, prior knowledge) upstream: each carries up to
 * `streamsPerConnection` requests at once, and a new one is opened only when every open one is
 * full. undici's Pool opens a connection for every request dispatched while the first is still
 * connecting (500 requests in one burst: 200 sockets); here the same burst takes 5.
 */
import { type Dispatcher, H2CClient } from 'undici';

interface Slot {
  readonly client: H2CClient;
  inFlight: number;
}

export interface H2cPoolOptions {
  readonly streamsPerConnection: number;
  readonly keepAliveTimeout: number;
}

export class H2cPool {
  private readonly slots: Slot[] = [];

  constructor(
    private readonly origin: string,
    private readonly opts: H2cPoolOptions,
  ) {}

  /** Open connections (for tests and metrics). */
  get connections(): number {
    return this.slots.length;
  }

  async request(options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    const slot = this.pick();
    slot.inFlight++;
    let res: Dispatcher.ResponseData;
    try {
      res = await slot.client.request(options);
    } catch (err) {
      slot.inFlight--;
      throw err;
    }
    // The stream is open until its body is read to the end, aborted or failed: all end in 'close'.
    res.body.once('close', () => slot.inFlight--);
    return res;
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.client.close()));
  }

  /** The first connection with room; a client that lost its socket reconnects on its next request. */
  private pick(): Slot {
    for (const slot of this.slots) if (slot.inFlight < this.opts.streamsPerConnection && !slot.client.closed) return slot;
    const n = this.opts.streamsPerConnection;
    const slot: Slot = {
      client: new H2CClient(this.origin, { pipelining: n, maxConcurrentStreams: n, keepAliveTimeout: this.opts.keepAliveTimeout }),
      inFlight: 0,
    };
    this.slots.push(slot);
    return slot;
  }
}
