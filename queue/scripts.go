package queue

import "github.com/redis/go-redis/v9"

// Multi-key state changes are Lua scripts, atomic on the server.

// Entries a worker puts back into a job stream (due retries, jobs given
// back at shutdown) take the next ID within the stream's current round,
// "<round>-*", never a clock-based one: the next round's jobs ("<round+1>-
// <contact>") must still sort after them. And while an enqueue is under way
// or was interrupted (the control hash's "enqueuing" is 1) nothing is put
// back, since the resumed enqueue starts after the stream's newest entry:
// due retries wait in their set, and given-back jobs are only marked idle
// for any worker to reclaim.
const sameRoundID = `
local function same_round_id(stream)
  local ok, info = pcall(redis.call, 'XINFO', 'STREAM', stream)
  if not ok then return '0-*' end
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      return string.match(info[i + 1], '^(%d+)') .. '-*'
    end
  end
  return '0-*'
end
`

// promoteScript moves retries that are due from the delayed set back into
// the job stream, unless an enqueue is under way.
//
//	KEYS[1] delayed sorted set   KEYS[2] jobs stream   KEYS[3] control hash
//	ARGV[1] now (unix ms)        ARGV[2] at most this many
//	returns the number moved
var promoteScript = redis.NewScript(sameRoundID + `
if redis.call('HGET', KEYS[3], 'enqueuing') == '1' then return 0 end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #due == 0 then return 0 end
local id = same_round_id(KEYS[2])
for _, member in ipairs(due) do
  local fields = cjson.decode(member)
  local args = {}
  for i = 1, #fields do args[#args + 1] = fields[i] end
  redis.call('XADD', KEYS[2], id, unpack(args))
  redis.call('ZREM', KEYS[1], member)
end
return #due
`)

// renewScript keeps the leases of jobs a consumer still owns: it resets
// their idle time so that no other worker reclaims live work.
//
//	KEYS[1] jobs stream
//	ARGV[1] group   ARGV[2] consumer   ARGV[3..] entry IDs
//	returns the IDs the consumer still owns, and how many of the others
//	another consumer holds (the rest are pending no more: acknowledged)
var renewScript = redis.NewScript(`
local owned, taken = {}, 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    owned[#owned + 1] = ARGV[i]
  elseif p[1] then
    taken = taken + 1
  end
end
return {owned, taken}
`)

// releaseScript gives back jobs a consumer fetched but never started (a
// worker shutting down): each is re-queued as a new entry of the same round
// and acknowledged in one step, so none is lost and none doubled. While an
// enqueue is under way it re-queues nothing and marks the jobs long idle
// instead, so that the next reclaim by any worker takes them.
//
//	KEYS[1] jobs stream   KEYS[2] control hash
//	ARGV[1] group   ARGV[2] consumer   ARGV[3..] entry IDs
//	returns the number released
var releaseScript = redis.NewScript(sameRoundID + `
local enqueuing = redis.call('HGET', KEYS[2], 'enqueuing') == '1'
local id = same_round_id(KEYS[1])
local n = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    if enqueuing then
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', 86400000, 'JUSTID')
    else
      local e = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
      if e[1] then
        redis.call('XADD', KEYS[1], id, unpack(e[1][2]))
      end
      redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
      redis.call('XDEL', KEYS[1], ARGV[i])
    end
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
