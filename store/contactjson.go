package store

import (
	"encoding/json"
	"sort"
	"strconv"
	"time"
	"tui/internal/jsonstr"

	bolt "go.etcd.io/bbolt"
)

// Contacts are written by a hand-made encoder instead of encoding/json: the
// import writes millions of them and reflection was a third of its time.
// The bytes are exactly those json.Marshal would produce (the tests compare
// them), so any JSON reader, and json.Unmarshal here, reads them.

// contactJSON holds the parts of a contact record that an import shares
// between rows, already encoded.
type contactJSON struct {
	tags      []byte // ,"tags":[...]
	times     []byte // ,"created_at":"...","updated_at":"..."
	importID  []byte // ,"import_id":"..." or nothing
	fieldKeys [][]byte
}

// appendContact encodes c as json.Marshal(c) would.
func appendContact(dst []byte, c *Contact) ([]byte, error) {
	if !jsonTimeOK(c.CreatedAt) || !jsonTimeOK(c.UpdatedAt) {
		// Out-of-range years make json.Marshal fail; let it say so.
		data, err := json.Marshal(c)
		return append(dst, data...), err
	}
	keys := make([]string, 0, len(c.Fields))
	for k := range c.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, c.ID, 10)
	dst = append(dst, `,"address":`...)
	dst = jsonstr.Append(dst, c.Address)
	dst = appendKindJSON(dst, c.Kind)
	if c.Name != "" {
		dst = append(dst, `,"name":`...)
		dst = jsonstr.Append(dst, c.Name)
	}
	if len(keys) > 0 {
		dst = append(dst, `,"fields":{`...)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonstr.Append(dst, k)
			dst = append(dst, ':')
			dst = jsonstr.Append(dst, c.Fields[k])
		}
		dst = append(dst, '}')
	}
	dst = appendTagsJSON(dst, c.Tags)
	dst = appendTimesJSON(dst, c.CreatedAt, c.UpdatedAt)
	dst = appendImportIDJSON(dst, c.ImportID)
	return appendImportRowJSON(dst, c.ImportRow), nil
}

// appendNewContact encodes a contact the import creates: fields holds the
// values of the columns whose encoded names are shared.fieldKeys, in that
// (sorted) order.
func appendNewContact(dst []byte, shared *contactJSON, id uint64, address string, kind AddressKind, name string, fields []string, row int) []byte {
	dst = append(dst, `{"id":`...)
	dst = strconv.AppendUint(dst, id, 10)
	dst = append(dst, `,"address":`...)
	dst = jsonstr.Append(dst, address)
	dst = appendKindJSON(dst, kind)
	if name != "" {
		dst = append(dst, `,"name":`...)
		dst = jsonstr.Append(dst, name)
	}
	if len(fields) > 0 {
		dst = append(dst, `,"fields":{`...)
		for i, v := range fields {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, shared.fieldKeys[i]...)
			dst = append(dst, ':')
			dst = jsonstr.Append(dst, v)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, shared.tags...)
	dst = append(dst, shared.times...)
	dst = append(dst, shared.importID...)
	return appendImportRowJSON(dst, row)
}

// appendKindJSON writes the kind as json.Marshal does with omitempty.
func appendKindJSON(dst []byte, kind AddressKind) []byte {
	if kind == "" {
		return dst
	}
	dst = append(dst, `,"kind":`...)
	return jsonstr.Append(dst, string(kind))
}

func appendTagsJSON(dst []byte, tags []string) []byte {
	dst = append(dst, `,"tags":`...)
	if tags == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, t := range tags {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonstr.Append(dst, t)
	}
	return append(dst, ']')
}

func appendTimesJSON(dst []byte, created, updated time.Time) []byte {
	dst = append(dst, `,"created_at":"`...)
	dst = created.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","updated_at":"`...)
	dst = updated.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

func appendImportIDJSON(dst []byte, id string) []byte {
	if id == "" {
		return dst
	}
	dst = append(dst, `,"import_id":`...)
	return jsonstr.Append(dst, id)
}

func appendImportRowJSON(dst []byte, row int) []byte {
	if row != 0 {
		dst = append(dst, `,"import_row":`...)
		dst = strconv.AppendInt(dst, int64(row), 10)
	}
	return append(dst, '}')
}

// jsonTimeOK reports whether time.Time.MarshalJSON accepts t: a four-digit
// year and a zone offset of whole minutes under a day.
func jsonTimeOK(t time.Time) bool {
	if y := t.Year(); y < 0 || y > 9999 {
		return false
	}
	_, off := t.Zone()
	return off%60 == 0 && off > -24*3600 && off < 24*3600
}

// putContact writes one contact record.
func putContact(b *bolt.Bucket, key []byte, c *Contact) error {
	data, err := appendContact(nil, c)
	if err != nil {
		return err
	}
	return b.Put(key, data)
}
