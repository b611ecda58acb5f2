package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// The idempotency marks: a campaign's final outcome per contact, written in
// the transaction that acknowledges the job, read when a job may have been
// delivered before (reclaimed, retried, queued again after a loss) so that
// it is not delivered twice.
//
// They are a bitmap (MarksKey), two bits per contact ID, written with one
// BITFIELD per commit. A hash of contact ID → outcome (DoneKey), as tui
// wrote them before, cost Redis three times the CPU for every mark and
// 50 bytes a recipient (60 MB for a send of a million); it is still read
// and cleared, for the marks of workers that write it: an earlier tui, and
// any worker committing for a send whose live settings do not yet say
// "marks bitmap" (settings written by an earlier owner, whose clearing of
// marks knows only the hash). Contacts above maxBitmapContact are marked in the
// hash, so that no bitmap grows past 16 MB.

// MarksKey is a bitmap of the idempotency marks: two bits at offset
// 2×contact ID, markSent, markFailed or markSkipped (0: none).
func MarksKey(campaignID uint64) string { return campaignKey(campaignID, "marks") }

const (
	markSent    = 1
	markFailed  = 2
	markSkipped = 3
)

// maxBitmapContact is the highest contact ID marked in the bitmap.
const maxBitmapContact = 1<<26 - 1

// MarkCode is a final outcome's two-bit code ("sent" 1, "failed" 2,
// "skipped" 3; 0 for any other).
func MarkCode(final string) int {
	switch final {
	case "sent":
		return markSent
	case "failed":
		return markFailed
	case "skipped":
		return markSkipped
	}
	return 0
}

// MarkName is the final outcome of a two-bit code ("" for 0).
func MarkName(code int64) string {
	switch code {
	case markSent:
		return "sent"
	case markFailed:
		return "failed"
	case markSkipped:
		return "skipped"
	}
	return ""
}

// The BITFIELD words, boxed once.
var bfSet, bfGet, bfType any = "SET", "GET", "u2"

// bitfieldOffset is the BITFIELD offset of a contact's mark.
func bitfieldOffset(contact uint64) string { return "#" + strconv.FormatUint(contact, 10) }

// DoneMarks returns the final outcomes already recorded for the given
// contacts of a campaign (missing ones are absent), from the bitmap and
// the hash.
func DoneMarks(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, contacts []uint64) (map[uint64]string, error) {
	if len(contacts) == 0 {
		return nil, nil
	}
	fields := make([]string, len(contacts))
	var gets []any
	var inBitmap []uint64
	for i, c := range contacts {
		fields[i] = strconv.FormatUint(c, 10)
		if c <= maxBitmapContact {
			gets = append(gets, bfGet, bfType, bitfieldOffset(c))
			inBitmap = append(inBitmap, c)
		}
	}
	var bits *redis.IntSliceCmd
	var hash *redis.SliceCmd
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if len(gets) > 0 {
			bits = p.BitField(ctx, MarksKey(campaignID), gets...)
		}
		hash = p.HMGet(ctx, DoneKey(campaignID), fields...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the marks of campaign %d: %w", campaignID, err)
	}
	out := map[uint64]string{}
	for i, v := range hash.Val() {
		if s, ok := v.(string); ok {
			out[contacts[i]] = s
		}
	}
	if bits != nil {
		for i, v := range bits.Val() {
			if name := MarkName(v); name != "" {
				out[inBitmap[i]] = name
			}
		}
	}
	return out, nil
}

// ClearMarks removes the idempotency marks of recipients queued again in a
// new round; their old "failed" mark would make workers skip them.
func ClearMarks(ctx context.Context, rdb redis.UniversalClient, campaignID uint64, contacts []uint64) error {
	if len(contacts) == 0 {
		return nil
	}
	fields := make([]string, len(contacts))
	var sets []any
	for i, c := range contacts {
		fields[i] = strconv.FormatUint(c, 10)
		if c <= maxBitmapContact {
			sets = append(sets, bfSet, bfType, bitfieldOffset(c), 0)
		}
	}
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		if len(sets) > 0 {
			p.BitField(ctx, MarksKey(campaignID), sets...)
		}
		p.HDel(ctx, DoneKey(campaignID), fields...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("clear the marks of campaign %d: %w", campaignID, err)
	}
	return nil
}

// AllMarks returns every idempotency mark of a campaign, from the bitmap
// and the hash.
func AllMarks(ctx context.Context, rdb redis.UniversalClient, campaignID uint64) (map[uint64]string, error) {
	var bitmap *redis.StringCmd
	var hash *redis.MapStringStringCmd
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		bitmap = p.Get(ctx, MarksKey(campaignID))
		hash = p.HGetAll(ctx, DoneKey(campaignID))
		return nil
	})
	if err := bitmap.Err(); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read the marks of campaign %d: %w", campaignID, err)
	}
	if err := hash.Err(); err != nil {
		return nil, fmt.Errorf("read the marks of campaign %d: %w", campaignID, err)
	}
	out := map[uint64]string{}
	for k, v := range hash.Val() {
		if id, err := strconv.ParseUint(k, 10, 64); err == nil {
			out[id] = v
		}
	}
	for i, b := range []byte(bitmap.Val()) {
		for j := 0; j < 4; j++ {
			if name := MarkName(int64(b>>(6-2*j)) & 3); name != "" {
				out[uint64(4*i+j)] = name
			}
		}
	}
	return out, nil
}

// appendMarkArgs adds a final outcome's mark to the arguments of a
// BITFIELD (bits) or an HSET of the hash.
func appendMarkArgs(bits, hash []any, contact uint64, final string, bitmap bool) ([]any, []any) {
	if code := MarkCode(final); bitmap && code != 0 && contact <= maxBitmapContact {
		return append(bits, bfSet, bfType, bitfieldOffset(contact), code), hash
	}
	// go-redis writes a uint64 as its decimal digits: the same field as
	// FormatUint, without a string per mark.
	return bits, append(hash, contact, boxedFinal(final))
}
