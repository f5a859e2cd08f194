package redis

import (
	"crypto/rand"
	"encoding/hex"

	goredis "github.com/redis/go-redis/v9"
)

// Every script gets KEYS = entry, index (sorted set of entry keys by
// expiry, µs), sizes (hash: entry key → stored bytes), bytes (total), then
// the entry's scope: its entries (sorted set by expiry), its completed
// entries (sorted set by expiry, so oldest answer first) and its stored
// bytes. An entry key is <base>e:<len(scope)>:<scope><key> and its scope's
// keys are <base>s:, c: and b: followed by <len(scope)>:<scope>, so drop
// finds the scope of any entry, including ones swept from the index.
// luaDrop removes an entry and its bookkeeping; luaSweep drops every entry
// whose expiry has passed (at most 1000 per call, the rest next time).
const luaDrop = `
local base = string.sub(KEYS[2], 1, -6)
local function scopeof(k)
  local rest = string.sub(k, #base + 3)
  local n = string.match(rest, '^(%d+):')
  if not n then return nil end
  return string.sub(rest, 1, #n + 1 + tonumber(n))
end
local function drop(k)
  local n = redis.call('HGET', KEYS[3], k)
  local sc = scopeof(k)
  if n then
    redis.call('DECRBY', KEYS[4], n)
    redis.call('HDEL', KEYS[3], k)
    if sc and redis.call('DECRBY', base .. 'b:' .. sc, n) <= 0 then redis.call('DEL', base .. 'b:' .. sc) end
  end
  redis.call('ZREM', KEYS[2], k)
  if sc then
    redis.call('ZREM', base .. 's:' .. sc, k)
    redis.call('ZREM', base .. 'c:' .. sc, k)
  end
  redis.call('DEL', k)
end
local function sweep(now)
  for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)) do drop(k) end
end
local function keep(ttl)
  for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], ttl) end
end
`

// beginScript: ARGV = now, body hash, token, lease (µs), max entries, TTL
// of the bookkeeping (ms), max entries of the scope. Returns {"new"},
// {"conflict"}, {"inflight"}, {"full"}, {"scopefull"} (every entry of the
// scope's share is in flight) or {"replay", status, headers, body}. A scope
// at its share first forgets its own expired entries, then its oldest
// answers.
var beginScript = goredis.NewScript(luaDrop + `
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[4])
local e = KEYS[1]
local v = redis.call('HMGET', e, 'h', 'x', 'd')
if v[1] and tonumber(v[2]) <= now then
  drop(e)
  v = {}
end
if v[1] then
  if v[1] ~= ARGV[2] then return {'conflict'} end
  if v[3] == '1' then
    local r = redis.call('HMGET', e, 'st', 'hd', 'b')
    return {'replay', r[1], r[2], r[3]}
  end
  return {'inflight'}
end
sweep(now)
local share = tonumber(ARGV[7])
if redis.call('ZCARD', KEYS[5]) >= share then
  for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, 1000)) do drop(k) end
  while redis.call('ZCARD', KEYS[5]) >= share do
    local old = redis.call('ZRANGE', KEYS[6], 0, 0)
    if #old == 0 then return {'scopefull'} end
    drop(old[1])
  end
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return {'full'} end
local x = string.format('%.0f', now + lease)
redis.call('HSET', e, 'h', ARGV[2], 't', ARGV[3], 'x', x)
redis.call('PEXPIRE', e, math.floor(lease / 1000) + 1000)
redis.call('ZADD', KEYS[2], x, e)
redis.call('ZADD', KEYS[5], x, e)
keep(tonumber(ARGV[6]))
return {'new'}
`)

// completeScript: ARGV = now, token, window (µs), status, headers, body,
// size, max bytes, TTL of the bookkeeping (ms), max bytes of the scope.
// Returns "ok", "toolarge" (the entry was dropped so a repeat runs again)
// or "notowner". An answer that does not fit the scope's share evicts the
// scope's own oldest answers; one larger than the share is not stored.
var completeScript = goredis.NewScript(luaDrop + `
local now, window, size = tonumber(ARGV[1]), tonumber(ARGV[3]), tonumber(ARGV[7])
local share = tonumber(ARGV[10])
local e = KEYS[1]
local v = redis.call('HMGET', e, 't', 'x', 'd')
if v[1] ~= ARGV[2] or v[3] == '1' or tonumber(v[2]) <= now then return 'notowner' end
if size > share then
  drop(e)
  return 'toolarge'
end
while (tonumber(redis.call('GET', KEYS[7])) or 0) + size > share do
  local old = redis.call('ZRANGE', KEYS[6], 0, 0)
  if #old == 0 then break end
  drop(old[1])
end
if (tonumber(redis.call('GET', KEYS[7])) or 0) + size > share then
  drop(e)
  return 'toolarge'
end
local total = tonumber(redis.call('GET', KEYS[4])) or 0
if total + size > tonumber(ARGV[8]) then
  sweep(now)
  total = tonumber(redis.call('GET', KEYS[4])) or 0
end
if total + size > tonumber(ARGV[8]) then
  drop(e)
  return 'toolarge'
end
local x = string.format('%.0f', now + window)
redis.call('HSET', e, 'd', '1', 'st', ARGV[4], 'hd', ARGV[5], 'b', ARGV[6], 'x', x)
redis.call('PEXPIRE', e, math.floor(window / 1000) + 1000)
redis.call('ZADD', KEYS[2], x, e)
redis.call('ZADD', KEYS[5], x, e)
redis.call('ZADD', KEYS[6], x, e)
redis.call('HSET', KEYS[3], e, ARGV[7])
redis.call('INCRBY', KEYS[4], ARGV[7])
redis.call('INCRBY', KEYS[7], ARGV[7])
keep(tonumber(ARGV[9]))
return 'ok'
`)

// abandonScript: ARGV = token. Returns 1 when the owner released the key,
// 0 when the ticket no longer owns it.
var abandonScript = goredis.NewScript(luaDrop + `
local v = redis.call('HMGET', KEYS[1], 't', 'd')
if v[1] ~= ARGV[1] or v[2] == '1' then return 0 end
drop(KEYS[1])
return 1
`)

// newToken returns 128 random bits in hex: a ticket no other request or
// replica can guess.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}
