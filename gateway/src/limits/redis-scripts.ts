// The Redis limiter's Lua scripts: the arithmetic of arithmetic.ts, one script per
// admission and one per settlement, each atomic in Redis. Kept line by line parallel to
// the TypeScript (sliding log of the last minute, reservations per budget period, stale
// reservations freed after MAX_IN_FLIGHT_MS); test/gateway/limits-redis.test.ts runs the
// same scenarios against both.
//
// Keys of one API key (a hash tag keeps them in one cluster slot):
//   KEYS[1] win   sorted set: request id -> admission time (ms), the last minute
//   KEYS[2] wtok  hash: request id -> tokens it holds in the window
//   KEYS[3] wsum  string: the sum of wtok
//   KEYS[4] fl    hash: request id -> "at tokens spend period" of admitted, unfinished requests
//   KEYS[5] rsv   hash: "<period>:t" / "<period>:s" -> tokens / spend reserved in flight
//   KEYS[6] use   hash of the budget period: requests, tokens, spend (absent: not loaded)
// Numbers leave as strings: Redis would truncate Lua floats to integers.

const COMMON = `
local W = 60000
local function prune(now, windowed, maxInFlight)
  if windowed == 1 then
    local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - W)
    local freed = 0
    for i = 1, #expired, 500 do
      local chunk = {}
      for j = i, math.min(i + 499, #expired) do chunk[#chunk + 1] = expired[j] end
      local toks = redis.call('HMGET', KEYS[2], unpack(chunk))
      for _, t in ipairs(toks) do freed = freed + (tonumber(t) or 0) end
      redis.call('HDEL', KEYS[2], unpack(chunk))
    end
    if #expired > 0 then
      redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - W)
      redis.call('DECRBY', KEYS[3], freed)
    end
  else
    redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  end
  local fl = redis.call('HGETALL', KEYS[4])
  for i = 1, #fl, 2 do
    local at, t, s, p = string.match(fl[i + 1], '^(%S+) (%S+) (%S+) (%S+)$')
    if tonumber(at) <= now - maxInFlight then
      redis.call('HDEL', KEYS[4], fl[i])
      redis.call('HINCRBY', KEYS[5], p .. ':t', -tonumber(t))
      redis.call('HINCRBYFLOAT', KEYS[5], p .. ':s', -tonumber(s))
    end
  end
end
local function report(now, rpm, tpm)
  local out = {}
  local n = redis.call('ZCARD', KEYS[1])
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  local reset = 0
  if #last > 0 then reset = tonumber(last[2]) + W - now end
  if rpm >= 0 then
    out[1] = tostring(rpm); out[2] = tostring(math.max(0, rpm - n)); out[3] = tostring(reset)
  else
    out[1] = ''; out[2] = ''; out[3] = ''
  end
  if tpm >= 0 then
    local used = tonumber(redis.call('GET', KEYS[3]) or '0')
    out[4] = tostring(tpm); out[5] = tostring(math.max(0, tpm - used)); out[6] = tostring(reset)
  else
    out[4] = ''; out[5] = ''; out[6] = ''
  end
  return out
end
`;

// ARGV: now id tokens spend rpm tpm maxConcurrent tokenBudget spendBudget period periodEnd
//       maxInFlight (-1: unlimited / none)
// Returns {'load'} when the budget period must be loaded first; else {ok, limit, max, used,
// requested, retryAfterMs, then the six report fields}.
export const ADMIT_SCRIPT = `${COMMON}
local now = tonumber(ARGV[1]); local id = ARGV[2]
local tokens = tonumber(ARGV[3]); local spend = tonumber(ARGV[4])
local rpm = tonumber(ARGV[5]); local tpm = tonumber(ARGV[6]); local maxc = tonumber(ARGV[7])
local tb = tonumber(ARGV[8]); local sb = tonumber(ARGV[9])
local period = ARGV[10]; local periodEnd = tonumber(ARGV[11])
local windowed = 0
if rpm >= 0 or tpm >= 0 then windowed = 1 end
prune(now, windowed, tonumber(ARGV[12]))
local function refuse(limit, max, used, requested, retry)
  local r = {'0', limit, tostring(max), tostring(used), tostring(requested), tostring(retry)}
  for _, v in ipairs(report(now, rpm, tpm)) do r[#r + 1] = v end
  return r
end
local n = redis.call('ZCARD', KEYS[1])
if rpm >= 0 and n + 1 > rpm then
  local freeing = redis.call('ZRANGE', KEYS[1], n - rpm, n - rpm, 'WITHSCORES')
  return refuse('requests_per_minute', rpm, n, 1, tonumber(freeing[2]) + W - now)
end
if tpm >= 0 then
  local used = tonumber(redis.call('GET', KEYS[3]) or '0')
  if used + tokens > tpm then
    local retry = -1
    if tokens <= tpm then
      local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
      local freed = 0
      for i = 1, #entries, 2 do
        freed = freed + (tonumber(redis.call('HGET', KEYS[2], entries[i]) or '0'))
        if used - freed + tokens <= tpm then retry = tonumber(entries[i + 1]) + W - now; break end
      end
    end
    return refuse('tokens_per_minute', tpm, used, tokens, retry)
  end
end
local running = redis.call('HLEN', KEYS[4])
if maxc >= 0 and running + 1 > maxc then
  return refuse('max_concurrent_requests', maxc, running, 1, 1000)
end
if tb >= 0 or sb >= 0 then
  if redis.call('EXISTS', KEYS[6]) == 0 then return {'load'} end
  local retry = -1
  if periodEnd >= 0 then retry = periodEnd - now end
  if tb >= 0 then
    local used = tonumber(redis.call('HGET', KEYS[6], 'tokens') or '0')
      + tonumber(redis.call('HGET', KEYS[5], period .. ':t') or '0')
    if used + tokens > tb then return refuse('token_budget', tb, used, tokens, retry) end
  end
  if sb >= 0 and spend > 0 then
    local used = tonumber(redis.call('HGET', KEYS[6], 'spend') or '0')
      + tonumber(redis.call('HGET', KEYS[5], period .. ':s') or '0')
    if used + spend > sb then return refuse('spend_budget_usd', sb, used, spend, retry) end
  end
end
if windowed == 1 then
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('HSET', KEYS[2], id, tokens)
  redis.call('INCRBY', KEYS[3], tokens)
  redis.call('PEXPIRE', KEYS[1], W * 2); redis.call('PEXPIRE', KEYS[2], W * 2)
  redis.call('PEXPIRE', KEYS[3], W * 2)
end
redis.call('HSET', KEYS[4], id, ARGV[1] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. period)
redis.call('HINCRBY', KEYS[5], period .. ':t', tokens)
redis.call('HINCRBYFLOAT', KEYS[5], period .. ':s', spend)
local r = {'1', '', '', '', '', ''}
for _, v in ipairs(report(now, rpm, tpm)) do r[#r + 1] = v end
return r
`;

// ARGV: id tokens spend. Releases the reservation, settles the window entry, and counts
// the request in the loaded budget period (KEYS[6], the period it started in).
export const FINISH_SCRIPT = `
local id = ARGV[1]; local tokens = tonumber(ARGV[2]); local spend = tonumber(ARGV[3])
local r = redis.call('HGET', KEYS[4], id)
if r then
  local at, t, s, p = string.match(r, '^(%S+) (%S+) (%S+) (%S+)$')
  redis.call('HDEL', KEYS[4], id)
  redis.call('HINCRBY', KEYS[5], p .. ':t', -tonumber(t))
  redis.call('HINCRBYFLOAT', KEYS[5], p .. ':s', -tonumber(s))
end
local old = redis.call('HGET', KEYS[2], id)
if old then
  redis.call('HSET', KEYS[2], id, tokens)
  redis.call('INCRBY', KEYS[3], tokens - tonumber(old))
end
if redis.call('EXISTS', KEYS[6]) == 1 then
  redis.call('HINCRBY', KEYS[6], 'requests', 1)
  redis.call('HINCRBY', KEYS[6], 'tokens', tokens)
  redis.call('HINCRBYFLOAT', KEYS[6], 'spend', spend)
end
return 1
`;

// ARGV: requests tokens spend expireAtMs (-1: never). Loads a budget period unless another
// gateway already did.
export const LOAD_SCRIPT = `
if redis.call('EXISTS', KEYS[6]) == 1 then return 0 end
redis.call('HSET', KEYS[6], 'requests', ARGV[1], 'tokens', ARGV[2], 'spend', ARGV[3])
if tonumber(ARGV[4]) >= 0 then redis.call('PEXPIREAT', KEYS[6], ARGV[4]) end
return 1
`;

// ARGV: now rpm tpm period maxInFlight. Returns {'load'}, or {requests, tokens, spend,
// inFlight, reservedTokens, reservedSpend, then the six report fields}.
export const INSPECT_SCRIPT = `${COMMON}
local now = tonumber(ARGV[1]); local rpm = tonumber(ARGV[2]); local tpm = tonumber(ARGV[3])
local period = ARGV[4]
local windowed = 0
if rpm >= 0 or tpm >= 0 then windowed = 1 end
prune(now, windowed, tonumber(ARGV[5]))
if redis.call('EXISTS', KEYS[6]) == 0 then return {'load'} end
local u = redis.call('HMGET', KEYS[6], 'requests', 'tokens', 'spend')
local r = {u[1] or '0', u[2] or '0', u[3] or '0', tostring(redis.call('HLEN', KEYS[4])),
  redis.call('HGET', KEYS[5], period .. ':t') or '0', redis.call('HGET', KEYS[5], period .. ':s') or '0'}
for _, v in ipairs(report(now, rpm, tpm)) do r[#r + 1] = v end
return r
`;
