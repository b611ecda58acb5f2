package queue

import (
	"fmt"
	"time"
)

// Every Redis key tui uses is built here. Keys of one campaign share a hash
// tag ({c42}) so that a Cluster keeps them in one slot and one MULTI can
// touch them all.

// KeyPrefix starts every key, so tui can share a Redis with others.
const KeyPrefix = "tui:"

// Group is the consumer group every worker reads job streams with.
const Group = "workers"

func campaignKey(campaignID uint64, name string) string {
	return fmt.Sprintf("%s{c%d}:%s", KeyPrefix, campaignID, name)
}

// JobsKey is the stream of a campaign's delivery jobs.
func JobsKey(campaignID uint64) string { return campaignKey(campaignID, "jobs") }

// ControlKey is a hash of a campaign's live settings: state, rate, attempts.
func ControlKey(campaignID uint64) string { return campaignKey(campaignID, "ctl") }

// DoneKey is a hash of contact ID → final outcome: the idempotency marks
// that stop a re-delivered job from being delivered twice, as workers
// wrote them before MarksKey (see marks.go).
func DoneKey(campaignID uint64) string { return campaignKey(campaignID, "done") }

// DelayedKey is a sorted set of jobs waiting for a retry, scored by due time.
func DelayedKey(campaignID uint64) string { return campaignKey(campaignID, "delayed") }

// RateKey is the campaign's shared rate limiter.
func RateKey(campaignID uint64) string { return campaignKey(campaignID, "rate") }

// EventsKey is the stream of a campaign's delivery outcomes.
func EventsKey(campaignID uint64) string { return campaignKey(campaignID, "events") }

// EpochsKey is a hash of worker ID → the last queue epoch of the campaign
// that worker took in (see AckEpoch).
func EpochsKey(campaignID uint64) string { return campaignKey(campaignID, "epochs") }

// ActiveKey is the set of campaigns whose jobs workers should consume.
func ActiveKey() string { return KeyPrefix + "active" }

// WakeKey is a short stream the owner adds to when a send starts or
// resumes: idle workers wait on it, instead of learning of the send at
// their next read of the live settings.
func WakeKey() string { return KeyPrefix + "wake" }

// WorkersKey is the set of worker IDs that have reported a heartbeat.
func WorkersKey() string { return KeyPrefix + "workers" }

// WorkerKey is one worker's heartbeat hash; it expires when the worker stops
// reporting.
func WorkerKey(id string) string { return KeyPrefix + "worker:" + id }

// EndedKeepFor is how long what Redis still holds of a send that is over
// stays there: a cancelled send's settings and events (its workers read
// "cancelled" from them, and its owner folds the deliveries that were
// under way), and whatever a worker writes of a send after it ended. The
// keys then expire: a send leaves nothing in Redis for good.
const EndedKeepFor = 24 * time.Hour

// campaignKeys are every key of a campaign's send but its control hash and
// its events (which the owner still folds after a send ends).
func campaignKeys(campaignID uint64) []string {
	return []string{JobsKey(campaignID), DelayedKey(campaignID), MarksKey(campaignID), DoneKey(campaignID), RateKey(campaignID), ProbeKey(campaignID), EpochsKey(campaignID)}
}

// ProbeKey is a short-lived key the owner writes to learn whether the
// server holding a campaign takes writes (it may refuse: out of memory, a
// read-only replica).
func ProbeKey(campaignID uint64) string { return campaignKey(campaignID, "probe") }
