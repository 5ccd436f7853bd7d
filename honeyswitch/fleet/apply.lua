-- honeyswitch: apply a batch of one host's decisions to the shared state, atomically,
-- and note every change in the decision stream.  (honeyswitch/fleet/remote.py calls it.)
--
-- KEYS[1] decision stream   KEYS[2] blacklist index   KEYS[3] sources index
--   then per operation: bl+ / bl-: its entry key, its tombstone key; src: its source key
-- ARGV[1] now (ms)  ARGV[2] stream MAXLEN  ARGV[3] node  ARGV[4] tombstone TTL (ms)
--   then per operation: its kind and its arguments (see add, remove and share below)
--
-- Numbers stay the text the host sent (Python's exact repr) and are only compared here:
-- Lua would print them with 14 digits.
--
-- Results, one per operation:
--   bl+  {'ok', added} | {'same', entry} (the listed entry already lasts as long or
--        longer) | {'stale', tombstone} (removed after this add was decided) | {'expired'}
--   bl-  {'ok'} | {'absent'} | {'newer', entry} (re-added after this removal was decided)
--   src  {'ok'}
local now, maxlen, node, tomb_ttl = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local stream, blx, srcx = KEYS[1], KEYS[2], KEYS[3]

local function note(...)
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'n', node, ...)
end

-- ARGV[a..a+7]: ip reason by origin added expires at expiry_ms ('' = never)
local function add(key, tomb, a)
  local ip, reason, by, origin = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local added, expires, at, exp_ms = ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7]
  local t = redis.call('GET', tomb)
  if t and tonumber(t) >= tonumber(at) then return {'stale', t} end
  local old = redis.call('HMGET', key, 'expires', 'added', 'at')
  if old[1] then
    local oexp, nexp = tonumber(old[1]), tonumber(expires)
    if oexp == 0 or (nexp ~= 0 and oexp >= nexp) then
      -- The expiry never gets earlier: the entry stands; keep the later decision time.
      if tonumber(at) > tonumber(old[3]) then redis.call('HSET', key, 'at', at) end
      return {'same', redis.call('HGETALL', key)}
    end
    if tonumber(old[2]) < tonumber(added) then added = old[2] end
    if tonumber(old[3]) > tonumber(at) then at = old[3] end
  end
  if exp_ms ~= '' and tonumber(exp_ms) <= now then return {'expired'} end
  redis.call('HSET', key, 'ip', ip, 'reason', reason, 'by', by, 'origin', origin,
             'added', added, 'expires', expires, 'at', at)
  if exp_ms == '' then
    redis.call('PERSIST', key)
    redis.call('ZADD', blx, '+inf', ip)
  else
    redis.call('PEXPIREAT', key, exp_ms)
    redis.call('ZADD', blx, exp_ms, ip)
  end
  note('k', 'bl+', 'ip', ip, 'reason', reason, 'by', by, 'origin', origin,
       'added', added, 'expires', expires, 'at', at)
  return {'ok', added}
end

-- ARGV[a..a+2]: ip at by
local function remove(key, tomb, a)
  local ip, at, by = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local oat = redis.call('HGET', key, 'at')
  if oat and tonumber(oat) > tonumber(at) then return {'newer', redis.call('HGETALL', key)} end
  local t = redis.call('GET', tomb)
  if not t or tonumber(t) < tonumber(at) then redis.call('SET', tomb, at, 'PX', tomb_ttl) end
  redis.call('ZREM', blx, ip)
  if redis.call('DEL', key) == 0 then return {'absent'} end
  note('k', 'bl-', 'ip', ip, 'at', at, 'by', by)
  return {'ok'}
end

-- ARGV[a..a+2]: ip share (JSON) until_ms (when it has faded and its incident closed)
local function share(key, a)
  local ip, data, until_ms = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  if tonumber(until_ms) <= now then
    redis.call('HDEL', key, node)
  else
    redis.call('HSET', key, node, data)
    local ttl = redis.call('PTTL', key)
    if ttl < 0 or now + ttl < tonumber(until_ms) then redis.call('PEXPIREAT', key, until_ms) end
    redis.call('ZADD', srcx, 'GT', until_ms, ip)
  end
  note('k', 'src', 'ip', ip, 'd', data)
  return {'ok'}
end

local out, a, k = {}, 5, 4
while a <= #ARGV do
  local kind = ARGV[a]
  if kind == 'bl+' then
    out[#out + 1] = add(KEYS[k], KEYS[k + 1], a + 1)
    a, k = a + 9, k + 2
  elseif kind == 'bl-' then
    out[#out + 1] = remove(KEYS[k], KEYS[k + 1], a + 1)
    a, k = a + 4, k + 2
  elseif kind == 'src' then
    out[#out + 1] = share(KEYS[k], a + 1)
    a, k = a + 4, k + 1
  else
    return redis.error_reply('honeyswitch: unknown operation ' .. tostring(kind))
  end
end
redis.call('ZREMRANGEBYSCORE', blx, '-inf', '(' .. ARGV[1])
redis.call('ZREMRANGEBYSCORE', srcx, '-inf', '(' .. ARGV[1])
return out
