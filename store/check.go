package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// `tui db check`: the file's structure is walked page by page from the
// file itself, never through bbolt's map, with every offset checked before
// it is used, so that no damage can crash the check; then, if the
// structure holds, every record is read back through the same code the app
// uses, and the totals and indexes are compared with what they count.
//
// bbolt keeps no checksum of its pages: damage that leaves the structure
// intact and a record readable (a changed letter inside a name) cannot be
// found by any check.

// MaxCheckProblems bounds the problems a check lists; the count is exact.
const MaxCheckProblems = 100

// CheckReport is what `tui db check` found.
type CheckReport struct {
	Path      string
	Size      int64
	PageSize  int
	Pages     uint64 // the high-water mark
	TxID      uint64
	FreePages int
	// What the records hold, when the structure could be read.
	Campaigns, Contacts, LedgerRows, Suppressed int
	Problems                                    []string
	ProblemCount                                int
}

// OK reports whether nothing was found.
func (r *CheckReport) OK() bool { return r.ProblemCount == 0 }

func (r *CheckReport) problem(format string, args ...any) {
	r.ProblemCount++
	if len(r.Problems) < MaxCheckProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// CheckFile checks the database at path without changing it. It takes a
// shared lock, so it fails with ErrLocked while another tui has the file
// open for writing (the owner writes as it pleases, and a page read half
// way through a write would look damaged). An error means the check could
// not run; damage found is in the report.
func CheckFile(path string) (*CheckReport, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	defer f.Close()
	if err := lockShared(f); err != nil {
		return nil, &PathError{Path: path, Err: ErrLocked}
	}
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	rep := &CheckReport{Path: path, Size: info.Size()}
	if info.Size() == 0 {
		return nil, &PathError{Path: path, Err: ErrEmpty}
	}
	var hdr [pageHeaderSize + 4]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil || binary.LittleEndian.Uint32(hdr[pageHeaderSize:]) != boltMagic {
		return nil, &PathError{Path: path, Err: ErrNotDatabase}
	}
	walkFile(f, info.Size(), rep)
	if !rep.OK() {
		return rep, nil
	}
	checkRecords(path, rep)
	return rep, nil
}

// walker reads pages from the file with every bound checked.
type walker struct {
	f        io.ReaderAt
	size     int64
	pageSize int64
	hwm      uint64
	rep      *CheckReport
	seen     []byte // one bit per page: reached from the root, or free
	free     []byte
}

func walkFile(f io.ReaderAt, size int64, rep *CheckReport) {
	if _, err := readMeta(f, 0); err != nil {
		rep.problem("the first meta page: %v", err)
	}
	m, err := currentMeta(f)
	if err != nil {
		rep.problem("%v", err)
		return
	}
	if _, err := readMeta(f, int64(m.pageSize)); err != nil {
		rep.problem("the second meta page: %v", err)
	}
	rep.PageSize, rep.Pages, rep.TxID = int(m.pageSize), m.pgid, m.txid
	w := &walker{f: f, size: size, pageSize: int64(m.pageSize), hwm: m.pgid, rep: rep}
	if end := int64(m.pgid) * w.pageSize; size < end {
		rep.problem("the file is %d bytes long but its pages go up to byte %d: it was cut short", size, end)
		return
	}
	if m.pgid > uint64(size/w.pageSize)+1 || m.pgid < 4 {
		rep.problem("the meta page counts %d pages", m.pgid)
		return
	}
	w.seen = make([]byte, (m.pgid+7)/8)
	w.free = make([]byte, (m.pgid+7)/8)
	w.mark(0, 0, "meta")
	w.mark(1, 0, "meta")
	freelistKnown := m.freelist != pgidNoFreelist
	if freelistKnown {
		w.readFreelist(m.freelist)
	}
	w.walkBucketRoot(m.root, "the root bucket", 0)
	if !freelistKnown {
		return // free pages are not recorded: unreached ones are expected
	}
	unreached := 0
	first := uint64(0)
	for id := uint64(2); id < m.pgid; id++ {
		if !w.has(w.seen, id) {
			if unreached == 0 {
				first = id
			}
			unreached++
		}
	}
	if unreached > 0 {
		rep.problem("%d pages (the first is page %d) are neither in use nor free", unreached, first)
	}
}

func (w *walker) has(bits []byte, id uint64) bool { return bits[id/8]&(1<<(id%8)) != 0 }
func (w *walker) set(bits []byte, id uint64)      { bits[id/8] |= 1 << (id % 8) }

// mark records pages id … id+overflow as reached; false when one was
// reached before (two parents, or a loop) or is outside the file.
func (w *walker) mark(id uint64, overflow uint32, what string) bool {
	if id+uint64(overflow) >= w.hwm {
		w.rep.problem("%s: page %d (+%d overflow) is outside the file's %d pages", what, id, overflow, w.hwm)
		return false
	}
	for p := id; p <= id+uint64(overflow); p++ {
		if w.has(w.seen, p) {
			if w.has(w.free, p) {
				w.rep.problem("%s: page %d is in use and also listed as free", what, p)
			} else {
				w.rep.problem("%s: page %d is reached twice", what, p)
			}
			return false
		}
		w.set(w.seen, p)
	}
	return true
}

// page reads page id whole, or says why it cannot.
func (w *walker) page(id uint64, what string) ([]byte, bool) {
	if id < 2 || id >= w.hwm {
		w.rep.problem("%s: page %d is outside the file's %d pages", what, id, w.hwm)
		return nil, false
	}
	var h [pageHeaderSize]byte
	if _, err := w.f.ReadAt(h[:], int64(id)*w.pageSize); err != nil {
		w.rep.problem("%s: page %d cannot be read: %v", what, id, err)
		return nil, false
	}
	le := binary.LittleEndian
	if got := le.Uint64(h[0:]); got != id {
		w.rep.problem("%s: page %d (byte %d) calls itself page %d", what, id, int64(id)*w.pageSize, got)
		return nil, false
	}
	overflow := le.Uint32(h[12:])
	if !w.mark(id, overflow, what) {
		return nil, false
	}
	buf := make([]byte, int64(overflow+1)*w.pageSize)
	if _, err := w.f.ReadAt(buf, int64(id)*w.pageSize); err != nil {
		w.rep.problem("%s: page %d cannot be read: %v", what, id, err)
		return nil, false
	}
	return buf, true
}

func (w *walker) readFreelist(id uint64) {
	buf, ok := w.page(id, "the freelist")
	if !ok {
		return
	}
	le := binary.LittleEndian
	if flags := le.Uint16(buf[8:]); flags != flagFreelist {
		w.rep.problem("the freelist: page %d is not a freelist page (flags %#x)", id, flags)
		return
	}
	count, at := uint64(le.Uint16(buf[10:])), pageHeaderSize
	if count == 0xFFFF {
		count, at = le.Uint64(buf[pageHeaderSize:]), pageHeaderSize+8
	}
	if uint64(at)+count*8 > uint64(len(buf)) {
		w.rep.problem("the freelist: page %d lists %d pages, more than it holds", id, count)
		return
	}
	for i := uint64(0); i < count; i++ {
		p := le.Uint64(buf[uint64(at)+i*8:])
		switch {
		case p < 2 || p >= w.hwm:
			w.rep.problem("the freelist lists page %d, outside the file's %d pages", p, w.hwm)
		case w.has(w.free, p):
			w.rep.problem("the freelist lists page %d twice", p)
		default:
			w.set(w.free, p)
			w.set(w.seen, p)
			w.rep.FreePages++
		}
	}
}

const maxTreeDepth = 64

// walkBucketRoot walks the tree of a bucket whose root is page id.
func (w *walker) walkBucketRoot(id uint64, bucket string, depth int) {
	w.walkPage(id, bucket, nil, nil, depth)
}

// walkPage walks page id of bucket's tree; its keys must lie in [lo, hi).
// It returns the page's last key.
func (w *walker) walkPage(id uint64, bucket string, lo, hi []byte, depth int) []byte {
	if depth > maxTreeDepth {
		w.rep.problem("%s: the tree is deeper than %d pages: page %d", bucket, maxTreeDepth, id)
		return nil
	}
	buf, ok := w.page(id, bucket)
	if !ok {
		return nil
	}
	switch flags := binary.LittleEndian.Uint16(buf[8:]); flags {
	case flagBranch:
		return w.walkBranch(id, buf, bucket, lo, hi, depth)
	case flagLeaf:
		return w.walkLeaf(fmt.Sprintf("page %d", id), buf, bucket, lo, hi, depth)
	default:
		w.rep.problem("%s: page %d is neither a branch nor a leaf (flags %#x)", bucket, id, flags)
		return nil
	}
}

func (w *walker) walkBranch(id uint64, buf []byte, bucket string, lo, hi []byte, depth int) []byte {
	le := binary.LittleEndian
	count := int(le.Uint16(buf[10:]))
	if count == 0 || pageHeaderSize+count*16 > len(buf) {
		w.rep.problem("%s: branch page %d claims %d elements", bucket, id, count)
		return nil
	}
	type child struct {
		key []byte
		id  uint64
	}
	children := make([]child, count)
	for i := range children {
		at := pageHeaderSize + i*16
		pos, ksize := int(le.Uint32(buf[at:])), int(le.Uint32(buf[at+4:]))
		if at+pos < 0 || at+pos+ksize > len(buf) || ksize < 0 {
			w.rep.problem("%s: branch page %d: element %d points outside the page", bucket, id, i)
			return nil
		}
		children[i] = child{key: buf[at+pos : at+pos+ksize], id: le.Uint64(buf[at+8:])}
		if i > 0 && bytes.Compare(children[i-1].key, children[i].key) >= 0 {
			w.rep.problem("%s: branch page %d: its keys are out of order at element %d", bucket, id, i)
			return nil
		}
	}
	if lo != nil && bytes.Compare(children[0].key, lo) < 0 || hi != nil && bytes.Compare(children[count-1].key, hi) >= 0 {
		w.rep.problem("%s: branch page %d: its keys are outside its parent's range", bucket, id)
	}
	var last []byte
	for i, c := range children {
		next := hi
		if i+1 < count {
			next = children[i+1].key
		}
		last = w.walkPage(c.id, bucket, c.key, next, depth+1)
	}
	return last
}

// walkLeaf walks a leaf page (or an inline bucket's page, where) and the
// buckets it holds.
func (w *walker) walkLeaf(where string, buf []byte, bucket string, lo, hi []byte, depth int) []byte {
	le := binary.LittleEndian
	count := int(le.Uint16(buf[10:]))
	if pageHeaderSize+count*16 > len(buf) {
		w.rep.problem("%s: leaf %s claims %d elements", bucket, where, count)
		return nil
	}
	var prev []byte
	for i := 0; i < count; i++ {
		at := pageHeaderSize + i*16
		flags := le.Uint32(buf[at:])
		pos, ksize, vsize := int(le.Uint32(buf[at+4:])), int(le.Uint32(buf[at+8:])), int(le.Uint32(buf[at+12:]))
		end := at + pos + ksize + vsize
		if pos < 0 || ksize < 0 || vsize < 0 || end > len(buf) || end < at {
			w.rep.problem("%s: leaf %s: element %d points outside the page", bucket, where, i)
			return prev
		}
		key, value := buf[at+pos:at+pos+ksize], buf[at+pos+ksize:end]
		if prev != nil && bytes.Compare(prev, key) >= 0 {
			w.rep.problem("%s: leaf %s: its keys are out of order at element %d", bucket, where, i)
		}
		if i == 0 && lo != nil && bytes.Compare(key, lo) < 0 || hi != nil && bytes.Compare(key, hi) >= 0 {
			w.rep.problem("%s: leaf %s: key %d is outside its parent's range", bucket, where, i)
		}
		prev = key
		if flags&0x01 == 0 {
			continue
		}
		name := bucketName(bucket, key)
		if len(value) < bucketHeaderSize {
			w.rep.problem("%s: its header is cut short", name)
			continue
		}
		root := le.Uint64(value[0:])
		if root != 0 {
			w.walkBucketRoot(root, name, depth+1)
			continue
		}
		inline := value[bucketHeaderSize:]
		if len(inline) < pageHeaderSize || le.Uint16(inline[8:]) != flagLeaf {
			w.rep.problem("%s: its inline page is damaged", name)
			continue
		}
		w.walkLeaf("(inline)", inline, name, nil, nil, depth+1)
	}
	return prev
}

// bucketName says which bucket a check problem is in: "contacts", or
// "ledger › 3" for a campaign's nested bucket.
func bucketName(parent string, key []byte) string {
	k := string(key)
	if !printable(k) {
		k = fmt.Sprintf("%x", key)
	}
	if parent == "the root bucket" {
		return "bucket " + k
	}
	if len(key) == 8 { // a campaign's ledger, a tag's contacts: by id
		k = fmt.Sprint(binary.BigEndian.Uint64(key))
	}
	return parent + " › " + k
}

// printable reports whether a key can be shown as it is.
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}

// checkRecords reads every record back as the app does, read-only.
func checkRecords(path string, rep *CheckReport) {
	db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: LockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			rep.problem("the database became busy during the check: run it again")
			return
		}
		rep.problem("bbolt cannot open it: %v", err)
		return
	}
	defer db.Close()
	s := &Store{db: &boltDB{DB: db, path: path}, path: path, now: time.Now}
	if err := s.checkRecords(rep); err != nil {
		rep.problem("%v", err)
	}
}

func (s *Store) checkRecords(rep *CheckReport) error {
	return s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			rep.problem("the meta bucket is missing: this is not a tui database, or its root was damaged")
			return nil
		}
		if v := getUint(meta, keySchema); v > SchemaVersion {
			rep.problem("schema %d is newer than this tui reads (%d): check it with a newer tui", v, SchemaVersion)
			return nil
		}
		for _, b := range [][]byte{bucketCampaigns, bucketContacts, bucketAddresses, bucketTags, bucketSuppression, bucketLedger, bucketAudit} {
			if tx.Bucket(b) == nil {
				rep.problem("bucket %s is missing", b)
				return nil
			}
		}
		campaigns := map[uint64]bool{}
		_ = tx.Bucket(bucketCampaigns).ForEach(func(k, v []byte) error {
			var c Campaign
			if len(k) != 8 {
				rep.problem("campaigns: a key of %d bytes", len(k))
			} else if err := decodeCampaign(v, &c); err != nil {
				rep.problem("campaign %d cannot be read: %v", btoi(k), err)
			} else if c.ID != btoi(k) {
				rep.problem("campaign %d says it is campaign %d", btoi(k), c.ID)
			} else {
				campaigns[c.ID] = true
			}
			return nil
		})
		rep.Campaigns = len(campaigns)
		if n := getUint(meta, keyCampaignCount); n != uint64(len(campaigns)) {
			rep.problem("the campaign count says %d, there are %d", n, len(campaigns))
		}

		addrs := tx.Bucket(bucketAddresses)
		contacts := 0
		_ = tx.Bucket(bucketContacts).ForEach(func(k, v []byte) error {
			var c Contact
			if len(k) != 8 {
				rep.problem("contacts: a key of %d bytes", len(k))
				return nil
			}
			if err := decodeContact(v, &c); err != nil {
				rep.problem("contact %d cannot be read: %v", btoi(k), err)
				return nil
			}
			contacts++
			if id := addrs.Get([]byte(c.Address)); !bytes.Equal(id, k) {
				rep.problem("contact %d (%s) is missing from the address index", btoi(k), shown(c.Address))
			}
			return nil
		})
		rep.Contacts = contacts
		if n := getUint(meta, keyContactCount); n != uint64(contacts) {
			rep.problem("the contact count says %d, there are %d", n, contacts)
		}
		indexed := 0
		_ = addrs.ForEach(func(k, v []byte) error {
			indexed++
			if len(v) != 8 || tx.Bucket(bucketContacts).Get(v) == nil {
				rep.problem("the address index sends %s to a contact that does not exist", shown(string(k)))
			}
			return nil
		})
		if indexed != contacts {
			rep.problem("the address index holds %d addresses for %d contacts", indexed, contacts)
		}
		_ = tx.Bucket(bucketTags).ForEachBucket(func(tag []byte) error {
			return tx.Bucket(bucketTags).Bucket(tag).ForEach(func(k, _ []byte) error {
				if tx.Bucket(bucketContacts).Get(k) == nil {
					rep.problem("tag %s lists contact %d, which does not exist", shown(string(tag)), btoi(k))
				}
				return nil
			})
		})

		suppressed := 0
		_ = tx.Bucket(bucketSuppression).ForEach(func(k, v []byte) error {
			var sp Suppression
			if err := json.Unmarshal(v, &sp); err != nil {
				rep.problem("the suppression of %s cannot be read: %v", shown(string(k)), err)
			}
			suppressed++
			return nil
		})
		rep.Suppressed = suppressed
		if n := getUint(meta, keySuppressCount); n != uint64(suppressed) {
			rep.problem("the suppression count says %d, there are %d", n, suppressed)
		}

		ledger := tx.Bucket(bucketLedger)
		var ids []uint64
		_ = ledger.ForEachBucket(func(k []byte) error { ids = append(ids, btoi(k)); return nil })
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			if !campaigns[id] {
				rep.problem("the ledger holds rows of campaign %d, which does not exist", id)
			}
			_ = ledger.Bucket(itob(id)).ForEach(func(k, v []byte) error {
				if v == nil {
					return nil // a nested bucket of the campaign's ledger
				}
				var e LedgerEntry
				if err := decodeLedgerEntry(v, &e); err != nil {
					rep.problem("campaign %d: ledger row %x cannot be read: %v", id, k, err)
				}
				rep.LedgerRows++
				return nil
			})
		}
		return nil
	})
}

// shown is s as a check's report shows it: quoted when it holds anything
// that is not printable.
func shown(s string) string {
	if printable(s) && !strings.ContainsAny(s, "\n\t") {
		return s
	}
	return fmt.Sprintf("%q", s)
}
