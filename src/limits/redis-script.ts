/**
 * One Lua script called with arguments already laid out flat: EVALSHA, and EVAL (which loads
 * it) when Redis answers NOSCRIPT (a restarted or failed-over Redis holds no scripts yet; a
 * script that was not there did not run, so sending it again is safe).
 *
 * Why not ioredis's defineCommand: its Command runs `args.flat()` over every argument of every
 * call, ~60 ns an element in V8; an admit or settlement batch has hundreds, so that alone was
 * tens of µs of the gateway's serving thread per batch. Here the array is built once, by push.
 */
import { createHash } from 'node:crypto';
import { Command } from 'ioredis';
import type { RedisClient } from './redis-connect.js';

/** What a script returns: strings, integers, nested arrays of them. */
export type ScriptReply = string | number | null | ScriptReply[];

export class RedisScript {
  private readonly sha: string;

  constructor(private readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Runs the script on `client` (on a Cluster, in the slot of the first key). */
  async call(client: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<ScriptReply> {
    try {
      return await send(client, 'evalsha', this.sha, keys, args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return send(client, 'eval', this.lua, keys, args);
    }
  }
}

function send(
  client: RedisClient,
  name: 'eval' | 'evalsha',
  script: string,
  keys: readonly string[],
  args: readonly (string | number)[],
): Promise<ScriptReply> {
  // An empty Command, then its arguments: the constructor would flatten them (see above).
  const cmd = new Command(name, [], { replyEncoding: 'utf8' });
  // Strings only: the constructor is also where ioredis turns numbers into strings.
  const flat: string[] = [script, String(keys.length)];
  for (const k of keys) flat.push(k);
  for (const a of args) flat.push(typeof a === 'string' ? a : String(a));
  cmd.args = flat;
  return client.sendCommand(cmd) as Promise<ScriptReply>;
}
