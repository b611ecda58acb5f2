package queue

import "github.com/redis/go-redis/v9"

// Multi-key state changes are Lua scripts, atomic on the server.

// promoteScript moves retries that are due from the delayed set back into
// the job stream.
//
//	KEYS[1] delayed sorted set   KEYS[2] jobs stream
//	ARGV[1] now (unix ms)        ARGV[2] at most this many
//	returns the number moved
var promoteScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local fields = cjson.decode(member)
  local args = {}
  for i = 1, #fields do args[#args + 1] = fields[i] end
  redis.call('XADD', KEYS[2], '*', unpack(args))
  redis.call('ZREM', KEYS[1], member)
end
return #due
`)

// renewScript keeps the leases of jobs a consumer still owns: it resets
// their idle time so that no other worker reclaims live work.
//
//	KEYS[1] jobs stream
//	ARGV[1] group   ARGV[2] consumer   ARGV[3..] entry IDs
//	returns the IDs the consumer still owns
var renewScript = redis.NewScript(`
local owned = {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    owned[#owned + 1] = ARGV[i]
  end
end
return owned
`)

// releaseScript gives back jobs a consumer fetched but never started (a
// worker shutting down): each is re-queued as a new entry and acknowledged
// in one step, so none is lost and none doubled.
//
//	KEYS[1] jobs stream
//	ARGV[1] group   ARGV[2] consumer   ARGV[3..] entry IDs
//	returns the number released
var releaseScript = redis.NewScript(`
local n = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    local e = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
    if e[1] then
      redis.call('XADD', KEYS[1], '*', unpack(e[1][2]))
    end
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
    redis.call('XDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
`)

// trimScript drops the acknowledged head of a job stream: everything below
// the oldest entry still pending, or, with nothing pending, everything the
// group has read. Entries the group has not read yet are never touched, and
// neither is a pending one, so trimming cannot lose a job. One trim per tick
// costs Redis far less than an XDEL of every acknowledged ID at commit.
//
//	KEYS[1] jobs stream
//	ARGV[1] group
//	returns the number of entries removed
var trimScript = redis.NewScript(`
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok then return 0 end
local last
for _, g in ipairs(groups) do
  local name, id
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then id = g[i + 1] end
  end
  if name == ARGV[1] then last = id end
end
if not last or last == '0-0' then return 0 end
local p = redis.call('XPENDING', KEYS[1], ARGV[1])
if p[1] > 0 then
  return redis.call('XTRIM', KEYS[1], 'MINID', p[2])
end
local n = redis.call('XTRIM', KEYS[1], 'MINID', last)
return n + redis.call('XDEL', KEYS[1], last)
`)
