"""The Lua scripts the Redis limit store runs: each call is atomic on the Redis side.

``RESERVE``
    KEYS: one counter per limit, then an idempotency token. ARGV: now (ms), slots per window,
    then per limit: limit, slot length (ms, 0 for a calendar counter), amount, hard (1/0), TTL,
    refill per second (0; else a token bucket, a hash of level ``l`` in milli-tokens, time ``t``
    in ms and capacity ``c``: ``token_bucket.py`` computes exactly the same in memory).
    Reads every counter, refuses if a hard limit would pass (with the wait until enough frees
    up), otherwise adds to all; remembers its answer under the token for 30 s (a retried call
    gets the same answer instead of reserving twice).
``RECONCILE``
    Adds the difference between used and reserved amounts to each counter (never below 0).
``USAGE``
    The current total of one counter.
``ACQUIRE``
    A concurrency lease in a sorted set: expired leases dropped, one added while under the limit.
"""

RESERVE = """
local tok = KEYS[#KEYS]
local prev = redis.call('GET', tok)
if prev then return cjson.decode(prev) end
local now = tonumber(ARGV[1])
local n = #KEYS - 1
local S = tonumber(ARGV[2])
local used, reset, cur, live, level = {}, {}, {}, {}, {}
for i = 1, n do
  local b = 2 + (i - 1) * 6
  local slot_ms = tonumber(ARGV[b + 2])
  local refill = tonumber(ARGV[b + 6])
  if refill > 0 then
    local cap = tonumber(ARGV[b + 1]) * 1000
    local h = redis.call('HMGET', KEYS[i], 'l', 't')
    local lv = cap
    if h[1] then lv = math.min(cap, tonumber(h[1]) + math.floor(math.max(0, now - tonumber(h[2])) * refill)) end
    cur[i] = -2; level[i] = lv; live[i] = {}
    used[i] = tonumber(ARGV[b + 1]) - math.floor(lv / 1000)
    reset[i] = 0
    if cap > lv then reset[i] = math.ceil((cap - lv) / refill) end
  elseif slot_ms > 0 then
    local c = math.floor(now / slot_ms)
    cur[i] = c
    local h = redis.call('HGETALL', KEYS[i])
    local sum, oldest, lv = 0, nil, {}
    for j = 1, #h, 2 do
      local s = tonumber(h[j]); local a = tonumber(h[j + 1])
      if s <= c - S then redis.call('HDEL', KEYS[i], h[j])
      elseif a > 0 then
        sum = sum + a; lv[#lv + 1] = {s, a}
        if oldest == nil or s < oldest then oldest = s end
      end
    end
    used[i] = sum; live[i] = lv
    if oldest then reset[i] = (oldest + S) * slot_ms - now else reset[i] = 0 end
  else
    cur[i] = -1
    used[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
    reset[i] = 0
  end
end
for i = 1, n do
  local b = 2 + (i - 1) * 6
  local limit = tonumber(ARGV[b + 1]); local slot_ms = tonumber(ARGV[b + 2]); local amount = tonumber(ARGV[b + 3])
  if ARGV[b + 4] == '1' and used[i] + amount > limit then
    local retry = 0
    local refill = tonumber(ARGV[b + 6])
    if refill > 0 then
      local need = amount * 1000 - level[i]
      if amount > limit then need = limit * 1000 end
      retry = math.max(0, math.ceil(need / refill))
    elseif slot_ms > 0 then
      retry = S * slot_ms
      if amount <= limit then
        table.sort(live[i], function(x, y) return x[1] < y[1] end)
        local need, freed = used[i] + amount - limit, 0
        for _, p in ipairs(live[i]) do
          freed = freed + p[2]
          if freed >= need then retry = (p[1] + S) * slot_ms - now; break end
        end
      end
    end
    local out = {0, i, retry}
    for k = 1, n do out[#out + 1] = used[k]; out[#out + 1] = reset[k]; out[#out + 1] = cur[k] end
    redis.call('SET', tok, cjson.encode(out), 'PX', 30000)
    return out
  end
end
local out = {1, 0, 0}
for i = 1, n do
  local b = 2 + (i - 1) * 6
  local slot_ms = tonumber(ARGV[b + 2]); local amount = tonumber(ARGV[b + 3]); local ttl = tonumber(ARGV[b + 5])
  local refill = tonumber(ARGV[b + 6])
  if refill > 0 then
    local cap = tonumber(ARGV[b + 1]) * 1000
    local lv = level[i] - amount * 1000
    redis.call('HSET', KEYS[i], 'l', lv, 't', now, 'c', cap)
    used[i] = tonumber(ARGV[b + 1]) - math.floor(lv / 1000) - amount
    reset[i] = 0
    if cap > lv then reset[i] = math.ceil((cap - lv) / refill) end
  elseif slot_ms > 0 then
    redis.call('HINCRBY', KEYS[i], cur[i], amount)
    if reset[i] == 0 then reset[i] = (cur[i] + S) * slot_ms - now end
  else
    redis.call('INCRBY', KEYS[i], amount)
  end
  redis.call('PEXPIRE', KEYS[i], ttl)
  out[#out + 1] = used[i] + amount; out[#out + 1] = reset[i]; out[#out + 1] = cur[i]
end
redis.call('SET', tok, cjson.encode(out), 'PX', 30000)
return out
"""

RECONCILE = """
for i = 1, #KEYS do
  local slot = ARGV[2 * i - 1]; local d = tonumber(ARGV[2 * i])
  if d ~= 0 then
    if slot == '-2' then
      local h = redis.call('HMGET', KEYS[i], 'l', 'c')
      if h[1] then redis.call('HSET', KEYS[i], 'l', math.min(tonumber(h[2]), tonumber(h[1]) - d * 1000)) end
    elseif slot == '-1' then
      if redis.call('EXISTS', KEYS[i]) == 1 then
        if redis.call('INCRBY', KEYS[i], d) < 0 then redis.call('SET', KEYS[i], 0, 'KEEPTTL') end
      end
    elseif redis.call('HEXISTS', KEYS[i], slot) == 1 then
      if redis.call('HINCRBY', KEYS[i], slot, d) < 0 then redis.call('HSET', KEYS[i], slot, 0) end
    end
  end
end
return 1
"""

USAGE = """
local slot_ms = tonumber(ARGV[2])
if slot_ms <= 0 then return tonumber(redis.call('GET', KEYS[1]) or '0') end
local c = math.floor(tonumber(ARGV[1]) / slot_ms)
local h = redis.call('HGETALL', KEYS[1])
local sum = 0
for j = 1, #h, 2 do
  if tonumber(h[j]) > c - tonumber(ARGV[3]) then sum = sum + tonumber(h[j + 1]) end
end
return sum
"""

ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return 1
end
return 0
"""
