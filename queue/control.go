package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// SendState is what workers should do with a campaign's jobs.
type SendState string

// The states a send can be in, as workers see them.
const (
	StateSending   SendState = "sending"
	StatePaused    SendState = "paused"
	StateCancelled SendState = "cancelled"
)

// DefaultMaxAttempts is how often a recipient is tried before it fails.
const DefaultMaxAttempts = 5

// Control is a campaign's live settings, shared by every worker.
type Control struct {
	State       SendState
	Rate        int // messages per second across all workers; 0 = no limit
	MaxAttempts int
	// Epoch names the queue: written when a send starts and when the
	// owner queues it again after Redis lost it. Jobs carry the epoch they
	// were queued in, and a worker never delivers one of another epoch:
	// a job held from before a loss has been queued again.
	Epoch string
	// BitmapMarks says that the owner reads and clears the idempotency
	// marks in the bitmap (MarksKey), where workers then write them.
	BitmapMarks bool
	// Owner is the ID of the database whose send this is, OwnerName its
	// host:path (store.Identity). Two databases sharing a Redis database
	// number their campaigns alike: SetControl refuses to take over the
	// keys of another database's send, and the owner folds no events of
	// a send that is not its own. "" (an owner before this) claims nothing.
	Owner, OwnerName string
	// Round is the send's round these settings were written for (0: not
	// said, an owner before this): a stale send is dropped only if no
	// later round has written its settings since (DropIfOver).
	Round int
}

// ForeignSendError means Redis holds a send of the campaign from another
// tui database: the two databases share a Redis database, where their
// campaign numbers collide.
type ForeignSendError struct {
	CampaignID uint64
	OwnerName  string // the other database's host:path, "" when not known
}

func (e *ForeignSendError) Error() string {
	other := "another tui database"
	if e.OwnerName != "" {
		other += " (" + e.OwnerName + ")"
	}
	// What to do before why: a pane shows three lines of it.
	return fmt.Sprintf("Redis holds a send of campaign %d from %s. Give this database and its workers a Redis database "+
		"of their own (another number, as in redis://localhost:6379/1, or another Redis): two databases sharing "+
		"one collide on campaign numbers", e.CampaignID, other)
}

// claimControlScript writes a campaign's control hash unless it belongs
// to another database's send, and keeps the send's keys for good: what
// workers wrote while Redis had forgotten the send expires until then
// (see EndedKeepFor).
//
//	KEYS[1] the control hash   KEYS[2..] the keys to keep
//	ARGV[1] the owner's ID   ARGV[2..] fields and values
//	returns "" when written, else the other owner's name (or "?")
var claimControlScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'db')
if cur and cur ~= '' and cur ~= ARGV[1] then
  local name = redis.call('HGET', KEYS[1], 'db_name')
  if not name or name == '' then name = '?' end
  return name
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
for i = 1, #KEYS do redis.call('PERSIST', KEYS[i]) end
return ''
`)

// keptKeys are the keys of a send that may expire once it is over
// (EndedKeepFor), or that a worker wrote while Redis had forgotten it:
// written settings keep them for good again.
func keptKeys(campaignID uint64) []string {
	return []string{ControlKey(campaignID), EventsKey(campaignID), MarksKey(campaignID), DoneKey(campaignID), DelayedKey(campaignID)}
}

// CheckOwner returns a *ForeignSendError when the campaign's keys in Redis
// belong to another database's send than owner's; nil when they are its
// own, carry no owner, or are not there.
func CheckOwner(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, owner string) error {
	if owner == "" {
		return nil
	}
	v, err := rdb.HMGet(ctx, ControlKey(campaignID), "db", "db_name").Result()
	if err != nil {
		return fmt.Errorf("read the owner of campaign %d's send: %w", campaignID, err)
	}
	cur, _ := v[0].(string)
	if cur == "" || cur == owner {
		return nil
	}
	name, _ := v[1].(string)
	return &ForeignSendError{CampaignID: campaignID, OwnerName: name}
}

// NewEpoch is a fresh queue epoch: later epochs compare greater.
func NewEpoch() string { return strconv.FormatInt(time.Now().UnixNano(), 36) }

// EpochAfter reports whether epoch a was made after b.
func EpochAfter(a, b string) bool {
	x, err1 := strconv.ParseInt(a, 36, 64)
	y, err2 := strconv.ParseInt(b, 36, 64)
	return err1 == nil && err2 == nil && x > y
}

// AckEpoch records that a worker took in a campaign's queue epoch: it read
// the settings that carry it and, when the epoch replaced another (Redis
// lost the queue), recorded again the outcomes the loss took with it. The
// owner waits for these before it queues the send again, so that the
// done-marks are there before the new jobs.
func AckEpoch(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, worker, epoch string) error {
	return rdb.HSet(ctx, EpochsKey(campaignID), worker, epoch).Err()
}

// EpochAcks returns, by worker ID, the last epoch of the campaign each
// worker took in.
func EpochAcks(ctx context.Context, rdb redis.UniversalClient, campaignID uint64) (map[string]string, error) {
	return rdb.HGetAll(ctx, EpochsKey(campaignID)).Result()
}

// SetControl writes a campaign's live settings; workers pick them up within
// a second.
func SetControl(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, c Control) error {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	// This owner reads and clears the marks in the bitmap: workers may
	// write them there.
	fields := []any{"state", string(c.State), "rate", c.Rate, "max_attempts", c.MaxAttempts, "marks", "bitmap"}
	if c.Epoch != "" {
		fields = append(fields, "epoch", c.Epoch)
	}
	if c.Round > 0 {
		fields = append(fields, "round", c.Round)
	}
	if c.Owner == "" {
		_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, ControlKey(campaignID), fields...)
			for _, k := range keptKeys(campaignID) {
				p.Persist(ctx, k)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("set the live state of campaign %d: %w", campaignID, err)
		}
		return nil
	}
	fields = append(fields, "db", c.Owner, "db_name", c.OwnerName)
	other, err := claimControlScript.Run(ctx, rdb, keptKeys(campaignID), append([]any{c.Owner}, fields...)...).Text()
	if err != nil {
		return fmt.Errorf("set the live state of campaign %d: %w", campaignID, err)
	}
	if other != "" {
		if other == "?" {
			other = ""
		}
		return &ForeignSendError{CampaignID: campaignID, OwnerName: other}
	}
	return nil
}

// SetState changes only a campaign's state (pause, resume, cancel).
func SetState(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, s SendState) error {
	if err := rdb.HSet(ctx, ControlKey(campaignID), "state", string(s)).Err(); err != nil {
		return fmt.Errorf("set campaign %d to %s: %w", campaignID, s, err)
	}
	if s == StateSending {
		wake(ctx, rdb, campaignID)
	}
	return nil
}

// SetEnqueuing records that an enqueue of the campaign is under way (true,
// also while it is interrupted) or finished (false). Meanwhile workers put
// nothing back into the job stream: a resumed enqueue starts after the
// stream's newest entry.
func SetEnqueuing(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, on bool) error {
	v := 0
	if on {
		v = 1
	}
	if err := rdb.HSet(ctx, ControlKey(campaignID), "enqueuing", v).Err(); err != nil {
		return fmt.Errorf("record the enqueue of campaign %d: %w", campaignID, err)
	}
	return nil
}

// SetRate changes a running send's rate.
func SetRate(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, rate int) error {
	if err := rdb.HSet(ctx, ControlKey(campaignID), "rate", rate).Err(); err != nil {
		return fmt.Errorf("set the rate of campaign %d: %w", campaignID, err)
	}
	return nil
}

// ParseControl reads a control hash; a missing hash means sending with the
// defaults (a queue written before the controls existed).
func ParseControl(m map[string]string) Control {
	c := Control{State: StateSending, MaxAttempts: DefaultMaxAttempts}
	if s := m["state"]; s != "" {
		c.State = SendState(s)
	}
	if r, err := strconv.Atoi(m["rate"]); err == nil && r >= 0 {
		c.Rate = r
	}
	if a, err := strconv.Atoi(m["max_attempts"]); err == nil && a > 0 {
		c.MaxAttempts = a
	}
	c.Epoch = m["epoch"]
	c.BitmapMarks = m["marks"] == "bitmap"
	c.Owner, c.OwnerName = m["db"], m["db_name"]
	c.Round, _ = strconv.Atoi(m["round"])
	return c
}

// EpochOf reads the epoch of a campaign's queue ("" when none is set).
func EpochOf(ctx context.Context, rdb redis.UniversalClient, campaignID uint64) (string, error) {
	e, err := rdb.HGet(ctx, ControlKey(campaignID), "epoch").Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the queue epoch of campaign %d: %w", campaignID, err)
	}
	return e, nil
}
