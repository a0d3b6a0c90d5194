/**
 * The Lua the Redis store runs. Each script runs atomically, so every check of a request is
 * decided in one round trip with no interleaving. On Redis Cluster a call touches only keys of
 * one slot (one `{hash tag}`); on a single Redis (standalone, Sentinel) one call takes them all. The GCRA lines mirror gcra.ts operation for operation (Lua numbers are
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
 * admit batch (the admits one gateway issued in one event-loop turn, see admit-batch.ts): each
 * entry is one request's checks in one slot, decided in order exactly as one call per entry
 * would decide them, so the fleet's overshoot bound is unchanged: an entry sees every
 * reservation made before it, in this batch or any earlier call.
 * KEYS = the counters the batch touches (nc of them, each once), then the reservation marks.
 * Entries refer to keys by 1-based index.
 * ARGV = mark ttl (s), nc, the number of entries, then per entry `now nr nb mark` (now '' =
 * Redis TIME; mark 0 = none), then `key limit cost` per rate and `key limit cost ttl` per
 * budget (ttl 0 = none).
 * The mark says "Redis holds this reservation" until its settlement deletes it: when the reply
 * of an admit is lost (a timeout, a connection killed after Redis wrote), an undo applies only
 * if the mark is there, so the reservation is neither leaked nor refunded twice.
 * Returns one array per entry: { verdict ('ok' | 'rate' | 'budget'), 1-based index of the
 * denying check, its retry-after ms ('inf' = never) or the budget's used, now, k, then the TAT
 * of each of the first k rates (the new one, or for a rate that denied its current one) as two
 * integers (see exact), then on 'ok' the budgets' used after this reservation }. The caller
 * derives remaining and reset from TAT and now with gcraPeek, the same maths as gcra.ts.
 * A denied entry reserves nothing. Counters are read once (one MGET) and written once at the
 * end, however many entries touched them: that, and one call instead of one per request, is
 * what batching saves Redis.
 */
export const ADMIT_BATCH_LUA = `${PRELUDE}
local markTtl, nc, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local redisNow, redisNowText
-- A TAT for the reply, exactly, as two integers: x = m * 2^(e - 53) (m the 53-bit mantissa).
-- string.format('%.17g') costs ~0.3 µs a figure (multi-precision digits); this next to nothing,
-- and Redis returns integers as they are.
local function exact(out, at, x)
  local m, e = math.frexp(x)
  out[at], out[at + 1] = m * 9007199254740992, e
end
local vals = nc > 0 and redis.call('MGET', unpack(KEYS, 1, nc)) or {}
-- Each counter's value as the entries so far left it; tatAt: the now of its last reservation.
local cur, tatAt, added, ttlOf = {}, {}, {}, {}
for i = 1, nc do cur[i] = tonumber(vals[i]) end
local replies = {}
local p = 4
for e = 1, n do
  local now, nowText = tonumber(ARGV[p]), ARGV[p]
  if nowText == '' then
    if redisNow == nil then redisNow = clock(''); redisNowText = fmt(redisNow) end
    now, nowText = redisNow, redisNowText
  end
  local nr, nb, mark = tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3])
  local out = { 'ok', 0, 0, nowText, 0 }
  replies[e] = out
  p = p + 4
  local r0, b0 = p, p + 3 * nr
  p = b0 + 4 * nb
  local tats = {}
  for i = 1, nr do
    local q = r0 + 3 * (i - 1)
    local key, limit, cost = tonumber(ARGV[q]), tonumber(ARGV[q + 1]), tonumber(ARGV[q + 2])
    local interval = WINDOW / limit
    local base = math.max(cur[key] or now, now)
    local newTat = base + cost * interval
    local used = newTat - now
    if cost > limit or used > WINDOW + slackOf(interval) then
      out[5] = i
      exact(out, 4 + 2 * i, base)
      out[1], out[2] = 'rate', i
      if cost > limit then out[3] = 'inf' else out[3] = math.ceil(used - WINDOW) end
      break
    end
    tats[i] = newTat
    exact(out, 4 + 2 * i, newTat)
  end
  if out[1] == 'ok' then
    out[5] = nr
    for j = 1, nb do
      local q = b0 + 4 * (j - 1)
      local used = cur[tonumber(ARGV[q])] or 0
      if used >= tonumber(ARGV[q + 1]) then
        out[1], out[2], out[3] = 'budget', j, fmt(used)
        break
      end
    end
  end
  if out[1] == 'ok' then
    -- Admitted: the entry's reservation is what the next entries see.
    for i = 1, nr do
      local key = tonumber(ARGV[r0 + 3 * (i - 1)])
      cur[key], tatAt[key] = tats[i], now
    end
    for j = 1, nb do
      local q = b0 + 4 * (j - 1)
      local key, cost = tonumber(ARGV[q]), tonumber(ARGV[q + 2])
      cur[key] = (cur[key] or 0) + cost
      added[key] = (added[key] or 0) + cost
      if ttlOf[key] == nil then ttlOf[key] = tonumber(ARGV[q + 3]) end
      -- An integer (INCRBY keeps them so): Redis returns it exactly.
      out[5 + 2 * nr + j] = cur[key]
    end
    if mark > 0 then redis.call('SET', KEYS[mark], '1', 'EX', markTtl) end
  end
end
for key = 1, nc do
  local at = tatAt[key]
  if at ~= nil then
    storeTat(KEYS[key], cur[key], at)
  elseif added[key] ~= nil then
    redis.call('INCRBY', KEYS[key], fmt(added[key]))
    -- A counter this made gets its expiry; one that was there got it when it was made (a
    -- credit's DECRBY makes none: the next settlement batch's expireOnce gives it one).
    if not vals[key] and ttlOf[key] > 0 then redis.call('EXPIRE', KEYS[key], ttlOf[key]) end
  end
end
return replies
`;

/**
 * settle batch (settlements and refunds, many at once): each entry is one settlement's part in
 * one slot; a gateway sends what it settled in the last few milliseconds as one call (see
 * settle-batch.ts). KEYS = every key the batch touches, once each; entries refer to them by
 * 1-based index. ARGV = idempotency ttl (s), the number of entries, then per entry:
 * `now idem mark mode nr nb nu` (now '' = Redis TIME; idem the index of the request id's
 * idempotency key; mark the index of the reservation mark, 0 = none; mode 'clear' (delete it) or
 * 'require' (apply only if it is there, then delete it)), then `key limit delta` per rate,
 * `key delta ttl` per budget, and when nu > 0 `model inputTokens outputTokens costNanos` then
 * `key ttl` per usage hash.
 * Each entry is applied once (a replayed request id is a no-op) and in order, exactly as one
 * call per entry would apply it; counters several entries touch are read and written once:
 * a TAT moves by each entry's delta in turn (gcraAdjust, never before now), budget deltas and
 * usage fields are summed.
 * Returns per entry 1 (applied), 0 (a replay) or 2 (the mark was required and absent: Redis
 * never held the reservation, or it was settled already).
 */
export const SETTLE_BATCH_LUA = `${PRELUDE}
local idemTtl, n = ARGV[1], tonumber(ARGV[2])
local redisNow
local function nowOf(arg)
  if arg ~= '' then return tonumber(arg) end
  redisNow = redisNow or clock('')
  return redisNow
end
local tats, tatAt, tatOrder = {}, {}, {}
local sums, sumTtl, sumOrder = {}, {}, {}
local hashes, hashTtl, hashOrder = {}, {}, {}
-- A usage hash's field names per model, made once per batch.
local fields = {}
local function addTo(key, delta, ttl)
  if sums[key] == nil then sums[key], sumTtl[key], sumOrder[#sumOrder + 1] = 0, ttl, key end
  sums[key] = sums[key] + delta
end
local function addField(key, field, delta)
  local h = hashes[key]
  if h[field] == nil then h[field] = 0; h[0][#h[0] + 1] = field end
  h[field] = h[field] + delta
end
local out = {}
local p = 3
for e = 1, n do
  local now = nowOf(ARGV[p])
  local mark, mode = tonumber(ARGV[p + 2]), ARGV[p + 3]
  local nr, nb, nu = tonumber(ARGV[p + 4]), tonumber(ARGV[p + 5]), tonumber(ARGV[p + 6])
  local code = 1
  if not redis.call('SET', KEYS[tonumber(ARGV[p + 1])], '1', 'NX', 'EX', idemTtl) then
    code = 0
  elseif mark > 0 then
    if mode == 'require' and redis.call('EXISTS', KEYS[mark]) == 0 then code = 2 else redis.call('DEL', KEYS[mark]) end
  end
  out[e] = code
  p = p + 7
  for i = 1, nr do
    if code == 1 then
      local key, limit, delta = KEYS[tonumber(ARGV[p])], tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])
      if tats[key] == nil then tats[key], tatOrder[#tatOrder + 1] = tonumber(redis.call('GET', key)) or now, key end
      -- gcraAdjust: move the TAT by delta intervals, never before now.
      tats[key], tatAt[key] = math.max(now, tats[key] + delta * (WINDOW / limit)), now
    end
    p = p + 3
  end
  for j = 1, nb do
    if code == 1 then addTo(KEYS[tonumber(ARGV[p])], tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2])) end
    p = p + 3
  end
  if nu > 0 then
    local model, input, output, cost = ARGV[p], tonumber(ARGV[p + 1]), tonumber(ARGV[p + 2]), tonumber(ARGV[p + 3])
    p = p + 4
    local f = fields[model]
    if f == nil then
      f = { model .. '|requests', model .. '|in', model .. '|out', model .. '|cost' }
      fields[model] = f
    end
    for k = 1, nu do
      if code == 1 then
        local key = KEYS[tonumber(ARGV[p])]
        if hashes[key] == nil then hashes[key], hashTtl[key], hashOrder[#hashOrder + 1] = { [0] = {} }, tonumber(ARGV[p + 1]), key end
        addField(key, f[1], 1)
        addField(key, f[2], input)
        addField(key, f[3], output)
        addField(key, f[4], cost)
      end
      p = p + 2
    end
  end
end
for _, key in ipairs(tatOrder) do storeTat(key, tats[key], tatAt[key]) end
for _, key in ipairs(sumOrder) do
  if sums[key] ~= 0 then redis.call('INCRBY', key, fmt(sums[key])) end
  expireOnce(key, sumTtl[key])
end
for _, key in ipairs(hashOrder) do
  local h = hashes[key]
  for _, field in ipairs(h[0]) do redis.call('HINCRBY', key, field, fmt(h[field])) end
  expireOnce(key, hashTtl[key])
end
return out
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
