package queue

import "fmt"

// Every Redis key tui uses is built here. Keys of one campaign share a hash
// tag ({c42}) so that a Cluster keeps them in one slot.

// KeyPrefix starts every key, so tui can share a Redis with others.
const KeyPrefix = "tui:"

// JobsKey is the stream of a campaign's delivery jobs.
func JobsKey(campaignID uint64) string { return fmt.Sprintf("%s{c%d}:jobs", KeyPrefix, campaignID) }

// ActiveKey is the set of campaigns whose jobs workers should consume.
func ActiveKey() string { return KeyPrefix + "active" }
