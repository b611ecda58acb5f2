package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The suppression list's automatic sources: unsubscribes, which the
// listener records in Redis and the owner folds here, and bounces, which
// arrive on a send's failure events. Both only ever add: an address already
// suppressed keeps its first entry, so folding the same request twice, or
// late, changes nothing.

// The automatic sources of suppression entries.
const (
	SourceUnsubscribe = "unsubscribe"
	SourceBounce      = "bounce"
)

var (
	keyUnsubCursor = []byte("unsubscribe_cursor")     // the last request folded
	keyLinksSent   = []byte("unsubscribe_links_sent") // when messages with unsubscribe links first went out
)

// UnsubscribeRequest is a recipient's request, as the listener recorded it.
type UnsubscribeRequest struct {
	Campaign uint64
	Contact  uint64
	Via      string // "one-click" or "page"
	At       time.Time
}

// NoteLinksSent records that messages carrying unsubscribe links have gone
// out: from then on unsubscribes may arrive at any time, and the owner of
// the database looks for them in Redis.
func (s *Store) NoteLinksSent() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta.Get(keyLinksSent) != nil {
			return nil
		}
		return meta.Put(keyLinksSent, []byte(s.now().UTC().Format(time.RFC3339)))
	})
}

// LinksSent reports whether messages carrying unsubscribe links have ever
// gone out from this database.
func (s *Store) LinksSent() (bool, error) {
	sent := false
	err := s.db.View(func(tx *bolt.Tx) error {
		sent = tx.Bucket(bucketMeta).Get(keyLinksSent) != nil
		return nil
	})
	return sent, err
}

// UnsubscribeCursor is the stream ID of the last unsubscribe request folded
// ("" before the first).
func (s *Store) UnsubscribeCursor() (string, error) {
	var cur string
	err := s.db.View(func(tx *bolt.Tx) error {
		cur = string(tx.Bucket(bucketMeta).Get(keyUnsubCursor))
		return nil
	})
	return cur, err
}

// ApplyUnsubscribes folds requests into the suppression list and records
// the stream position they came from, in one transaction. Each request's
// address is the one its message went to (the ledger), or else the
// contact's. It returns the entries it added.
func (s *Store) ApplyUnsubscribes(cursor string, reqs []UnsubscribeRequest) ([]Suppression, error) {
	var added []Suppression
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		for _, r := range reqs {
			addr, name := s.recipientAddressTx(tx, r.Campaign, r.Contact)
			if addr == "" {
				// Neither the send nor the contact is known any more:
				// there is nobody left to write to, and nothing to do.
				if err := s.audit(tx, "unsubscribe", "unsubscribe.unknown",
					fmt.Sprintf("campaign %d contact %d", r.Campaign, r.Contact), "neither the send nor the contact exists any more"); err != nil {
					return err
				}
				continue
			}
			how := "the one-click link"
			if r.Via == "page" {
				how = "the unsubscribe page"
			}
			reason := "unsubscribed with " + how
			if name != "" {
				reason += fmt.Sprintf(" in %q", name)
			}
			at := r.At
			if at.IsZero() {
				at = s.now().UTC()
			}
			sup := Suppression{Address: addr, Reason: reason, At: at, By: "unsubscribe link", Source: SourceUnsubscribe, Campaign: r.Campaign}
			ok, err := s.addSuppressionTx(tx, sup)
			if err != nil {
				return err
			}
			if ok {
				added = append(added, sup)
			}
		}
		if CompareStreamIDs(cursor, string(meta.Get(keyUnsubCursor))) > 0 {
			return meta.Put(keyUnsubCursor, []byte(cursor))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fold unsubscribe requests: %w", err)
	}
	return added, nil
}

// recipientAddressTx finds where a campaign's message to a contact went,
// and the campaign's name.
func (s *Store) recipientAddressTx(tx *bolt.Tx, campaignID, contactID uint64) (addr, name string) {
	var c Campaign
	if raw := tx.Bucket(bucketCampaigns).Get(itob(campaignID)); raw != nil && decodeCampaign(raw, &c) == nil {
		name = c.Name
	}
	if ledger := tx.Bucket(bucketLedger).Bucket(itob(campaignID)); ledger != nil {
		if raw := ledger.Get(itob(contactID)); raw != nil {
			var e LedgerEntry
			if decodeLedgerEntry(raw, &e) == nil && e.Address != "" {
				return e.Address, name
			}
		}
	}
	if raw := tx.Bucket(bucketContacts).Get(itob(contactID)); raw != nil {
		if a, err := contactAddress(raw); err == nil {
			return a, name
		}
	}
	return "", name
}

// suppressBounceTx suppresses an address a provider refused for good.
func (s *Store) suppressBounceTx(tx *bolt.Tx, campaignID uint64, addr string, ev *RecipientEvent) error {
	if addr == "" {
		return nil
	}
	at := ev.At
	if at.IsZero() {
		at = s.now().UTC()
	}
	reason := "bounced: " + ev.Reason
	if len(reason) > 300 {
		reason = reason[:300] + "…"
	}
	_, err := s.addSuppressionTx(tx, Suppression{Address: addr, Reason: reason, At: at, By: "delivery",
		Source: SourceBounce, Campaign: campaignID})
	return err
}

// addSuppressionTx adds an entry unless the address is already suppressed;
// it reports whether it added.
func (s *Store) addSuppressionTx(tx *bolt.Tx, sup Suppression) (bool, error) {
	norm, err := NormalizeAddress(sup.Address)
	if err != nil {
		norm = sup.Address // recorded as it was sent to
	}
	sup.Address = norm
	b := tx.Bucket(bucketSuppression)
	if b.Get([]byte(norm)) != nil {
		return false, nil
	}
	if err := addUint(tx.Bucket(bucketMeta), keySuppressCount, 1); err != nil {
		return false, err
	}
	if err := putJSON(b, []byte(norm), &sup); err != nil {
		return false, err
	}
	return true, s.audit(tx, sup.By, "suppression.add", norm, sup.Reason)
}

// SuppressedInAudience counts the contacts a campaign would go to but for
// the suppression list, by source ("" for entries made by a person): the
// preflight shows who was left out and why.
func (s *Store) SuppressedInAudience(c *Campaign) (map[string]int, error) {
	out := map[string]int{}
	err := s.db.View(func(tx *bolt.Tx) error {
		tags := tx.Bucket(bucketTags)
		var include, exclude []*bolt.Bucket
		for _, t := range NormalizeTags(c.Tags) {
			if b := tags.Bucket([]byte(t)); b != nil {
				include = append(include, b)
			}
		}
		for _, t := range NormalizeTags(c.ExcludeTags) {
			if b := tags.Bucket([]byte(t)); b != nil {
				exclude = append(exclude, b)
			}
		}
		all := len(NormalizeTags(c.Tags)) == 0
		addrs, contacts, sups := tx.Bucket(bucketAddresses), tx.Bucket(bucketContacts), tx.Bucket(bucketSuppression)
		return sups.ForEach(func(addr, v []byte) error {
			id := addrs.Get(addr)
			if id == nil || contacts.Get(id) == nil {
				return nil
			}
			in := all
			for _, b := range include {
				in = in || b.Get(id) != nil
			}
			for _, b := range exclude {
				in = in && b.Get(id) == nil
			}
			if !in {
				return nil
			}
			var sup Suppression
			if err := getJSON(sups, addr, &sup); err != nil {
				return err
			}
			out[sup.Source]++
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("count the suppressed contacts of %q: %w", c.Name, err)
	}
	return out, nil
}
