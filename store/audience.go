package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The audience of a campaign: contacts with any of its tags (every contact
// when it has none), minus those with an excluded tag, minus the suppression
// list, minus those whose address the campaign's channel cannot reach (see
// Channel.Reaches). Contacts are unique by address, so nobody is counted
// twice.

type audienceTx struct {
	tx         *bolt.Tx
	contacts   *bolt.Bucket
	suppressed map[string]bool // contact ids (8-byte keys) whose address is suppressed
	include    []*bolt.Bucket
	all        bool
	// Lookups go through reused cursors: Bucket.Get allocates a cursor per
	// call and seeks from the root, which dominated counting a large
	// audience.
	records   *forwardCursor   // over contacts
	excludeCs []*forwardCursor // over the excluded tags
	includeCs []*forwardCursor // over the included tags, parallel to include
	// channel is the campaign's channel when it cannot reach every kind
	// of address; unreachable, when set, is told of each contact left out
	// for it instead.
	channel     Channel
	unreachable func(raw []byte, why string)
	// walk releases the map of the file as the walk goes.
	walk mapWalk
}

func newAudienceTx(tx *bolt.Tx, c *Campaign) *audienceTx {
	a := &audienceTx{tx: tx, contacts: tx.Bucket(bucketContacts), suppressed: map[string]bool{}, walk: mapWalk{tx: tx}}
	if c.Channel == ChannelSMTP || c.Channel == ChannelMessenger {
		a.channel = c.Channel
	}
	a.records = &forwardCursor{c: a.contacts.Cursor()}
	addrs := tx.Bucket(bucketAddresses)
	_ = tx.Bucket(bucketSuppression).ForEach(func(addr, _ []byte) error {
		if id := addrs.Get(addr); id != nil {
			a.suppressed[string(id)] = true
		}
		return nil
	})
	tags := tx.Bucket(bucketTags)
	for _, t := range NormalizeTags(c.ExcludeTags) {
		if b := tags.Bucket([]byte(t)); b != nil {
			a.excludeCs = append(a.excludeCs, &forwardCursor{c: b.Cursor()})
		}
	}
	includes := NormalizeTags(c.Tags)
	a.all = len(includes) == 0
	for _, t := range includes {
		if b := tags.Bucket([]byte(t)); b != nil {
			a.include = append(a.include, b)
			a.includeCs = append(a.includeCs, &forwardCursor{c: b.Cursor()})
		}
	}
	return a
}

// forwardCursor looks keys up in a bucket. Audience ids arrive in ascending
// order, so a key a few steps ahead is reached with Next; anything else
// seeks.
type forwardCursor struct {
	c    *bolt.Cursor
	k, v []byte
}

// find returns the value stored under key, and whether the key exists.
func (f *forwardCursor) find(key []byte) ([]byte, bool) {
	if f.k != nil && bytes.Compare(f.k, key) <= 0 {
		for step := 0; step < 16; step++ {
			switch cmp := bytes.Compare(f.k, key); {
			case cmp == 0:
				return f.v, true
			case cmp > 0: // walked past it: the keys are sorted, so it is absent
				return nil, false
			}
			if f.k, f.v = f.c.Next(); f.k == nil {
				return nil, false
			}
		}
	}
	f.k, f.v = f.c.Seek(key)
	if f.k != nil && bytes.Equal(f.k, key) {
		return f.v, true
	}
	return nil, false
}

// record is the contact stored under id, or nil.
func (a *audienceTx) record(id []byte) []byte {
	v, _ := a.records.find(id)
	return v
}

// eligible reports whether a contact in the include set survives the
// exclusions. idx is the include bucket it came from: a contact that also
// sits in an earlier include bucket was already visited there.
func (a *audienceTx) eligible(id []byte, idx int) bool {
	for _, c := range a.includeCs[:idx] {
		if _, ok := c.find(id); ok {
			return false
		}
	}
	for _, c := range a.excludeCs {
		if _, ok := c.find(id); ok {
			return false
		}
	}
	return true
}

// each visits every recipient's id and record; fn returns false to stop.
func (a *audienceTx) each(fn func(id, raw []byte) (bool, error)) error {
	visit := func(id []byte, raw []byte) (bool, error) {
		if raw == nil || a.suppressed[string(id)] {
			return true, nil
		}
		if a.channel != "" {
			if ok, why := a.channel.ReachesRaw(raw); !ok {
				if a.unreachable != nil {
					a.unreachable(raw, why)
				}
				return true, nil
			}
		}
		return fn(id, raw)
	}
	if a.all {
		c := a.contacts.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			a.walk.row()
			if !a.eligible(k, 0) {
				continue
			}
			more, err := visit(k, v)
			if err != nil || !more {
				return err
			}
		}
		return nil
	}
	for i, b := range a.include {
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			a.walk.row()
			if !a.eligible(k, i) {
				continue
			}
			// An index entry without its record would be a bug elsewhere;
			// such a contact cannot be sent to, so it is not counted.
			more, err := visit(k, a.record(k))
			if err != nil || !more {
				return err
			}
		}
	}
	return nil
}

// AudienceSize counts a campaign's recipients.
func (s *Store) AudienceSize(c *Campaign) (int, error) {
	n := 0
	err := s.db.View(func(tx *bolt.Tx) error {
		return newAudienceTx(tx, c).each(func(_, _ []byte) (bool, error) { n++; return true, nil })
	})
	if err != nil {
		return 0, fmt.Errorf("count audience of %q: %w", c.Name, err)
	}
	return n, nil
}

// AudienceKey names a campaign's audience: campaigns with equal keys have
// the same recipients (tags and excluded tags, in any order or case, and
// whether the channel reaches every kind of address).
func AudienceKey(c *Campaign) string {
	key := strings.Join(NormalizeTags(c.Tags), ",") + "|" + strings.Join(NormalizeTags(c.ExcludeTags), ",")
	if c.Channel == ChannelSMTP || c.Channel == ChannelMessenger {
		key += "|" + string(c.Channel)
	}
	return key
}

// AudienceSizes counts the audiences of many campaigns in one read, each
// distinct audience once (a thousand campaigns to the same tag cost one
// count), keyed by AudienceKey. It stops when ctx ends.
func (s *Store) AudienceSizes(ctx context.Context, cs []Campaign) (map[string]int, error) {
	sizes := make(map[string]int)
	err := s.db.View(func(tx *bolt.Tx) error {
		for i := range cs {
			c := &cs[i]
			k := AudienceKey(c)
			if _, ok := sizes[k]; ok {
				continue
			}
			n := 0
			err := newAudienceTx(tx, c).each(func(_, _ []byte) (bool, error) {
				n++
				if n%65536 == 0 {
					return ctx.Err() == nil, ctx.Err()
				}
				return true, nil
			})
			if err == nil {
				err = ctx.Err()
			}
			if err != nil {
				return fmt.Errorf("count audience of %q: %w", c.Name, err)
			}
			sizes[k] = n
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sizes, nil
}

// FirstRecipient returns the first contact of a campaign's audience, for the
// editor's preview. It returns ErrNotFound when the audience is empty.
func (s *Store) FirstRecipient(c *Campaign) (Contact, error) {
	var ct Contact
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		return newAudienceTx(tx, c).each(func(_, raw []byte) (bool, error) {
			found = true
			return false, decodeContact(raw, &ct)
		})
	})
	if err != nil {
		return Contact{}, fmt.Errorf("find the first recipient of %q: %w", c.Name, err)
	}
	if !found {
		return Contact{}, ErrNotFound
	}
	return ct, nil
}

// ForEachRecipient visits every recipient of a campaign in one read
// transaction; fn returns false to stop.
func (s *Store) ForEachRecipient(c *Campaign, fn func(Contact) bool) error {
	err := s.db.View(func(tx *bolt.Tx) error {
		return newAudienceTx(tx, c).each(func(_, raw []byte) (bool, error) {
			var ct Contact
			if err := decodeContact(raw, &ct); err != nil {
				return false, err
			}
			return fn(ct), nil
		})
	})
	if err != nil {
		return fmt.Errorf("resolve the audience of %q: %w", c.Name, err)
	}
	return nil
}

// Unreachable is a group of contacts in a campaign's audience by its tags
// that its channel cannot reach, and so are left out of the send.
type Unreachable struct {
	Why      string   // "have a phone number, and the smtp channel sends only to email addresses"
	Count    int      // how many
	Examples []string // the first few addresses, as their keys
}

// maxUnreachableExamples bounds the addresses Unreachable keeps.
const maxUnreachableExamples = 3

// UnreachableRecipients counts the contacts a campaign's channel leaves out
// of its audience, by reason, in the order the reasons were first met.
func (s *Store) UnreachableRecipients(c *Campaign) ([]Unreachable, error) {
	var out []Unreachable
	err := s.db.View(func(tx *bolt.Tx) error {
		a := newAudienceTx(tx, c)
		if a.channel == "" {
			return nil
		}
		a.unreachable = func(raw []byte, why string) {
			i := 0
			for i < len(out) && out[i].Why != why {
				i++
			}
			if i == len(out) {
				out = append(out, Unreachable{Why: why})
			}
			out[i].Count++
			if len(out[i].Examples) < maxUnreachableExamples {
				if ct, err := RawContact(raw).DecodeForMessage(); err == nil {
					out[i].Examples = append(out[i].Examples, ct.Key())
				}
			}
		}
		return a.each(func(_, _ []byte) (bool, error) { return true, nil })
	})
	if err != nil {
		return nil, fmt.Errorf("check the addresses of %q: %w", c.Name, err)
	}
	return out, nil
}

// eachAfter visits the recipients whose contact ID is above after, in
// ascending ID order, whatever tags bring them in (a merge of the include
// tags): a ledger written in chunks resumes from its last key, and the
// queue's IDs must ascend. fn returns false to stop.
func (a *audienceTx) eachAfter(after uint64, fn func(id, raw []byte) (bool, error)) error {
	visit := func(id, raw []byte) (bool, error) {
		if raw == nil || a.suppressed[string(id)] {
			return true, nil
		}
		for _, c := range a.excludeCs {
			if _, ok := c.find(id); ok {
				return true, nil
			}
		}
		if a.channel != "" {
			if ok, why := a.channel.ReachesRaw(raw); !ok {
				if a.unreachable != nil {
					a.unreachable(raw, why)
				}
				return true, nil
			}
		}
		return fn(id, raw)
	}
	from := itob(after + 1)
	if a.all {
		c := a.contacts.Cursor()
		for k, v := c.Seek(from); k != nil; k, v = c.Next() {
			a.walk.row()
			if more, err := visit(k, v); err != nil || !more {
				return err
			}
		}
		return nil
	}
	// One cursor per include tag, each at its next key; the smallest goes
	// next, and a contact in several tags once.
	heads := make([][]byte, len(a.include))
	cursors := make([]*bolt.Cursor, len(a.include))
	for i, b := range a.include {
		cursors[i] = b.Cursor()
		heads[i], _ = cursors[i].Seek(from)
	}
	for {
		var next []byte
		for _, h := range heads {
			if h != nil && (next == nil || bytes.Compare(h, next) < 0) {
				next = h
			}
		}
		if next == nil {
			return nil
		}
		id := next // keys stay valid for the transaction's life
		a.walk.row()
		for i, h := range heads {
			if h != nil && bytes.Equal(h, id) {
				heads[i], _ = cursors[i].Next()
			}
		}
		if more, err := visit(id, a.record(id)); err != nil || !more {
			return err
		}
	}
}
