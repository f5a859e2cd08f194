package redisbreaker

import goredis "github.com/redis/go-redis/v9"

// breakerScript is router.MemoryBreaker's state machine. KEYS[1] is the
// deployment's hash; ARGV = now (µs, 0: server time), op (allow, record,
// status), consecutive failures, error rate, window (µs), min requests,
// cooldown (µs), half-open probes, 429 cooldown (µs), TTL (ms), outcome
// (0 success, 1 failure, 2 rate limited), retry-after (µs).
//
// allow returns {1} or {0}; record returns {}; status returns {state,
// consecutive, window requests, window failures, opened at, cooldown until}.
var breakerScript = goredis.NewScript(`
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local op = ARGV[2]
local maxCons, rate, win, minReq = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cool, probes, rlCool, ttl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local outcome, retry = tonumber(ARGV[11]), tonumber(ARGV[12])
local key = KEYS[1]
local function str(x) return string.format('%.0f', x) end

local raw = redis.call('HGETALL', key)
local b = {}
for i = 1, #raw, 2 do
  if raw[i] == 'st' then b.st = raw[i + 1] else b[raw[i]] = tonumber(raw[i + 1]) end
end
local exists = #raw > 0
local function num(f) return b[f] or 0 end

local width = math.max(math.floor(win / 10), 1)
local epoch = math.floor(now / width)

local function window()
  local total, fails = 0, 0
  for i = 0, 9 do
    local e = b['e' .. i]
    if e and e > epoch - 10 and e <= epoch then
      total, fails = total + num('t' .. i), fails + num('f' .. i)
    end
  end
  return total, fails
end

local function bucket()
  local i = epoch % 10
  if b['e' .. i] ~= epoch then b['e' .. i], b['t' .. i], b['f' .. i] = epoch, 0, 0 end
  return i
end

local function advance()
  if (b.st == 'o' or b.st == 'h') and now >= num('oa') + cool then
    if b.st == 'o' or now >= num('oa') + 2 * cool then
      b.oa, b.pr = now - cool, 0
    end
    b.st = 'h'
  end
end

local function open() b.st, b.oa, b.pr = 'o', now, 0 end

local function save()
  local args = {}
  for f, v in pairs(b) do
    args[#args + 1] = f
    if f == 'st' then args[#args + 1] = v else args[#args + 1] = str(v) end
  end
  redis.call('DEL', key)
  redis.call('HSET', key, unpack(args))
  redis.call('PEXPIRE', key, ttl)
end

if op == 'status' then
  if not exists then return {'c', 0, 0, 0, 0, 0} end
  local st, oa = b.st, 0
  if st ~= 'c' then
    oa = num('oa')
    if st == 'o' and now >= oa + cool then st = 'h' end
  end
  local total, fails = window()
  return {st, num('cf'), total, fails, oa, num('cd')}
end

if op == 'allow' then
  if not exists then return {1} end
  b.ls = now
  local ok = 1
  if now < num('cd') then ok = 0
  else
    advance()
    if b.st == 'o' then ok = 0
    elseif b.st == 'h' then
      if num('pr') >= probes then ok = 0 else b.pr = num('pr') + 1 end
    end
  end
  save()
  return {ok}
end

-- record
if not exists then
  if outcome == 0 then return {} end
  b = {st = 'c'}
end
b.ls = now
advance()
if outcome == 0 then
  if b.st == 'h' then
    b = {st = 'c', cd = b.cd, ls = now}
  elseif b.st == 'c' then
    b.cf = 0
    local i = bucket()
    b['t' .. i] = b['t' .. i] + 1
  end
elseif outcome == 1 then
  if b.st == 'h' then open()
  elseif b.st == 'c' then
    b.cf = num('cf') + 1
    local i = bucket()
    b['t' .. i], b['f' .. i] = b['t' .. i] + 1, b['f' .. i] + 1
    local trips = maxCons > 0 and b.cf >= maxCons
    if not trips and rate > 0 then
      local total, fails = window()
      trips = total >= minReq and fails >= rate * total
    end
    if trips then open() end
  end
else
  if retry <= 0 then retry = rlCool end
  if now + retry > num('cd') then b.cd = now + retry end
  if b.st == 'h' and num('pr') > 0 then b.pr = b.pr - 1 end
end
save()
return {}
`)
