/**
 * Connections to one cleartext HTTP/2 (h2c, prior knowledge) upstream: each carries up to
 * `streamsPerConnection` requests at once, and a new one is opened only when every open one is
 * full (or holds as many as the upstream's SETTINGS allow). undici's Pool opens a connection for
 * every request dispatched while the first is still connecting (500 requests in one burst: 200
 * sockets); here the same burst takes 5.
 */
import { EventEmitter } from 'node:events';
import { type Dispatcher, H2CClient } from 'undici';
import { internalField, internalSymbol } from './undici-internals.js';

interface Slot {
  readonly client: H2CClient;
  inFlight: number;
  /** The upstream's HTTP/2 preface (its first SETTINGS) came on the current connection. */
  spoke: boolean;
}

/**
 * A call that failed before the upstream could have read it: its stream was refused (RFC 9113
 * §8.7: not processed), or the connection failed at the HTTP/2 level before the upstream sent
 * its preface (an upstream declared h2c that speaks only HTTP/1.1 answers the client preface with
 * an HTTP/1.1 error and never parses the request). Nothing is charged for it (classify()).
 */
export class UpstreamNotRead extends Error {
  override readonly name = 'UpstreamNotRead';
}

/**
 * The streams the upstream allows on one connection: undici records its SETTINGS
 * (maxConcurrentStreams) on the client, under a symbol it does not export. Without it a server
 * that allows fewer than `streamsPerConnection` would queue the rest unseen, inside the session.
 */
function streamsKeyOf(client: H2CClient): symbol | undefined {
  return internalSymbol(client, 'max concurrent streams');
}

function advertisedStreams(client: H2CClient, key: symbol | undefined): number {
  const value = key === undefined ? undefined : (client as unknown as Record<symbol, unknown>)[key];
  return typeof value === 'number' && value > 0 ? value : Infinity;
}

/** Sends of one request whose stream the upstream refused before processing it. */
const MAX_REFUSED_RETRIES = 3;

function refused(err: unknown): boolean {
  return err instanceof Error && (err as { code?: unknown }).code === 'ERR_HTTP2_STREAM_ERROR' && err.message.includes('REFUSED_STREAM');
}

/** Node's HTTP/2 errors (ERR_HTTP2_ERROR for a peer that is not speaking HTTP/2, ERR_HTTP2_INVALID_SESSION after it, ...). */
function http2Error(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_HTTP2_');
}

/** undici keeps a client's HTTP/2 session under a symbol it does not export. */
function sessionOf(client: H2CClient): EventEmitter | undefined {
  const session = internalField(client, 'http2Session');
  return session instanceof EventEmitter ? session : undefined;
}

export interface H2cPoolOptions {
  readonly streamsPerConnection: number;
  readonly keepAliveTimeout: number;
}

export class H2cPool {
  private readonly slots: Slot[] = [];
  /** Where undici keeps the upstream's stream limit (the same symbol on every client: looked up once). */
  private streamsKey: symbol | undefined;
  /** The lowest limit the upstream has announced: a new connection holds no more before its own SETTINGS come. */
  private learned = Infinity;

  constructor(
    private readonly origin: string,
    private readonly opts: H2cPoolOptions,
  ) {}

  /** Open connections (for tests and metrics). */
  get connections(): number {
    return this.slots.length;
  }

  async request(options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData> {
    for (let attempt = 1; ; attempt++) {
      const slot = this.pick();
      slot.inFlight++;
      try {
        return this.watch(slot, await slot.client.request(options));
      } catch (err) {
        slot.inFlight--;
        // Refused streams were not processed (RFC 9113 §8.7): safe to send again, and by now the
        // upstream's SETTINGS say how many a connection takes (a cold burst beyond its limit).
        if (refused(err) && attempt < MAX_REFUSED_RETRIES) continue;
        if (refused(err) || (!slot.spoke && http2Error(err)))
          throw new UpstreamNotRead(`the upstream did not take the request over HTTP/2 (${(err as { code: string }).code})`);
        throw err;
      }
    }
  }

  private watch(slot: Slot, res: Dispatcher.ResponseData): Dispatcher.ResponseData {
    // The stream is open until its body is read to the end ('end', then 'close' a tick later),
    // aborted or failed ('close'): whichever comes first frees its place.
    let open = true;
    const done = (): void => {
      if (open) slot.inFlight--;
      open = false;
    };
    res.body.once('end', done).once('close', done);
    return res;
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.client.close()));
  }

  /** The first connection with room; a client that lost its socket reconnects on its next request. */
  private pick(): Slot {
    for (const slot of this.slots) {
      const advertised = advertisedStreams(slot.client, this.streamsKey);
      if (advertised < this.learned) this.learned = advertised;
      const room = Math.min(this.opts.streamsPerConnection, advertised, this.learned);
      if (slot.inFlight < room && !slot.client.closed) return slot;
    }
    const n = this.opts.streamsPerConnection;
    const client = new H2CClient(this.origin, { pipelining: n, maxConcurrentStreams: n, keepAliveTimeout: this.opts.keepAliveTimeout });
    const slot: Slot = { client, inFlight: 0, spoke: false };
    // Each (re)connection starts unheard; its session's first 'remoteSettings' is the upstream's preface.
    client.on('connect', () => {
      slot.spoke = false;
      sessionOf(client)?.once('remoteSettings', () => {
        slot.spoke = true;
      });
    });
    this.streamsKey ??= streamsKeyOf(slot.client);
    this.slots.push(slot);
    return slot;
  }
}
