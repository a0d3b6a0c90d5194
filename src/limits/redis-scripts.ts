/**
 * The Lua the Redis store runs. Each script touches only keys of one Redis Cluster slot (one
 * `{hash tag}`) and runs atomically, so every check of a key is decided in one round trip with
 * no interleaving. The GCRA lines mirror gcra.ts operation for operation (Lua numbers are
 * IEEE doubles like JS numbers, and TATs are stored with %.17g so they round-trip exactly),
 * which is what lets the shared scenario test expect identical answers from both stores.
 */

/** Shared helpers: the clock, number formatting and GCRA's `remainingOf`. */
const PRELUDE = `
local WINDOW = 60000
local function clock(arg)
  -- Redis's clock, not the caller's: pods' clocks drift, Redis's is one clock for the fleet.
  -- A caller's clock (arg ~= '') is only for tests that replay a fixed timeline.
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local function fmt(x) return string.format('%.17g', x) end
-- gcra.ts's rounding slack: at most 1 ms, at most half an interval.
local function slackOf(interval) return math.min(1, interval / 2) end
local function remainingOf(used, interval, limit)
  return math.max(0, math.min(limit, math.floor((WINDOW - used + slackOf(interval)) / interval)))
end
-- A TAT is worthless once it has passed; keep it a bit over the window, or longer while it
-- still carries debt from a settlement that used more than it reserved.
local function storeTat(key, tat, now)
  redis.call('SET', key, fmt(tat), 'PX', math.max(WINDOW + 1000, math.ceil(tat - now) + 1000))
end
-- A period counter gets its expiry once, when it has none (as memory-store's addTo does).
local function expireOnce(key, ttl)
  if ttl > 0 and redis.call('TTL', key) == -1 then redis.call('EXPIRE', key, ttl) end
end
`;

/**
 * admit: KEYS = rate TAT ids (nr), then budget counter ids (nb), then optionally the request's
 * reservation mark (the key's slot only).
 * ARGV = now ('' = Redis TIME), nr, nb, then `limit cost` per rate, then `limit cost ttl` per
 * budget (ttl 0 = none), then (with a mark) the mark's ttl in seconds.
 * The mark says "Redis holds this reservation" until its settlement deletes it: when the reply
 * of an admit is lost (a timeout, a connection killed after Redis wrote), an undo applies only
 * if the mark is there, so the reservation is neither leaked nor refunded twice.
 * Returns { verdict ('ok' | 'rate' | 'budget'), 1-based index of the denying check, its
 * retry-after ms ('inf' = never) or the budget's used, the budgets' used after this
 * reservation (comma-separated, on 'ok'), then `remaining resetMs` per rate evaluated }.
 * Writes happen only after every check passed: a denial reserves nothing.
 */
export const ADMIT_LUA = `${PRELUDE}
local now = clock(ARGV[1])
local nr, nb = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = { 'ok', '0', '0', '' }
local tats = {}
for i = 1, nr do
  local limit, cost = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local interval = WINDOW / limit
  local base = math.max(tonumber(redis.call('GET', KEYS[i])) or now, now)
  local newTat = base + cost * interval
  local used = newTat - now
  if cost > limit or used > WINDOW + slackOf(interval) then
    out[#out + 1] = fmt(remainingOf(base - now, interval, limit))
    out[#out + 1] = fmt(base - now)
    out[1], out[2] = 'rate', tostring(i)
    if cost > limit then out[3] = 'inf' else out[3] = fmt(math.ceil(used - WINDOW)) end
    return out
  end
  out[#out + 1] = fmt(remainingOf(used, interval, limit))
  out[#out + 1] = fmt(used)
  tats[i] = newTat
end
local b0 = 4 + 2 * nr
local useds = {}
for j = 1, nb do
  local used = tonumber(redis.call('GET', KEYS[nr + j])) or 0
  if used >= tonumber(ARGV[b0 + 3 * (j - 1)]) then
    out[1], out[2], out[3] = 'budget', tostring(j), fmt(used)
    return out
  end
  useds[j] = used
end
for i = 1, nr do storeTat(KEYS[i], tats[i], now) end
if #KEYS > nr + nb then redis.call('SET', KEYS[nr + nb + 1], '1', 'EX', ARGV[#ARGV]) end
for j = 1, nb do
  local p = b0 + 3 * (j - 1)
  useds[j] = fmt(redis.call('INCRBY', KEYS[nr + j], ARGV[p + 1]))
  expireOnce(KEYS[nr + j], tonumber(ARGV[p + 2]))
end
out[4] = table.concat(useds, ',')
return out
`;

/**
 * adjust (settle, refund): KEYS = idempotency key, then rate TAT ids (nr), budget counter ids
 * (nb), usage hash ids (nu), then optionally the reservation mark (see ADMIT_LUA).
 * ARGV = now ('' = Redis TIME), idempotency ttl (s), nr, nb, nu, then `limit delta` per rate,
 * `delta ttl` per budget, then (when nu > 0) `model inputTokens outputTokens costNanos`, then
 * `ttl` per usage hash, then (with a mark) 'clear' (delete it) or 'require' (apply only if it
 * is there, then delete it).
 * Returns 1 when applied, 0 when this request id was already applied (a replay), 2 when the
 * mark was required and absent (Redis never held the reservation, or it was settled already).
 */
export const ADJUST_LUA = `${PRELUDE}
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then return 0 end
local now = clock(ARGV[1])
local nr, nb, nu = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if #KEYS > 1 + nr + nb + nu then
  if ARGV[#ARGV] == 'require' and redis.call('EXISTS', KEYS[#KEYS]) == 0 then return 2 end
  redis.call('DEL', KEYS[#KEYS])
end
for i = 1, nr do
  local limit, delta = tonumber(ARGV[4 + 2 * i]), tonumber(ARGV[5 + 2 * i])
  -- gcraAdjust: move the TAT by delta intervals, never before now.
  local base = tonumber(redis.call('GET', KEYS[1 + i])) or now
  storeTat(KEYS[1 + i], math.max(now, base + delta * (WINDOW / limit)), now)
end
local b0 = 6 + 2 * nr
for j = 1, nb do
  local key = KEYS[1 + nr + j]
  redis.call('INCRBY', key, ARGV[b0 + 2 * (j - 1)])
  expireOnce(key, tonumber(ARGV[b0 + 2 * j - 1]))
end
if nu > 0 then
  local u0 = b0 + 2 * nb
  local model = ARGV[u0]
  for k = 1, nu do
    local key = KEYS[1 + nr + nb + k]
    redis.call('HINCRBY', key, model .. '|requests', 1)
    redis.call('HINCRBY', key, model .. '|in', ARGV[u0 + 1])
    redis.call('HINCRBY', key, model .. '|out', ARGV[u0 + 2])
    redis.call('HINCRBY', key, model .. '|cost', ARGV[u0 + 3])
    expireOnce(key, tonumber(ARGV[u0 + 3 + k]))
  end
end
return 1
`;

/**
 * peek (read-only, a key holder's `GET /key`): KEYS = rate TAT ids of one slot.
 * ARGV = now ('' = Redis TIME). Returns { now, then each TAT ('' when none) }; gcraPeek does
 * the maths in TypeScript, so nothing here can write.
 */
export const PEEK_LUA = `${PRELUDE}
local out = { fmt(clock(ARGV[1])) }
for i = 1, #KEYS do out[#out + 1] = redis.call('GET', KEYS[i]) or '' end
return out
`;
