package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A damaged file — a disk that lost a write, a copy cut short, a byte
// flipped — must not crash tui. bbolt trusts its file: it panics on a page
// that is not what it expects, and reading a page past the end of a
// truncated file is a memory fault, which Go does not even let a program
// recover from unless it asked to. So Open checks what can be checked
// cheaply before bbolt maps the file, and every transaction runs with
// faults turned into panics and bbolt's panics turned into one error.

var (
	// ErrDamaged means the database file is damaged: see *DamagedError.
	ErrDamaged = errors.New("the database file is damaged")
	// ErrEmpty means the database file has no bytes at all.
	ErrEmpty = errors.New("the database file is empty (0 bytes)")
)

// DamagedError is a damaged database file: where, what was found, and what
// to do about it.
type DamagedError struct {
	Path   string
	Detail string // what was found, for `tui db check` and bug reports
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%s: %v: %s. Nothing more was read or written. "+
		"Restore it from a backup (`tui db backup FILE` makes one), or copy it aside and run `tui db check --db %s` to see what is damaged",
		e.Path, ErrDamaged, e.Detail, e.Path)
}

func (e *DamagedError) Unwrap() error { return ErrDamaged }

// boltDB is the bbolt database with its transactions guarded: a panic from
// bbolt, or a memory fault, in a transaction comes back as a
// *DamagedError. Store uses it exactly as a *bolt.DB.
type boltDB struct {
	*bolt.DB
	path string
}

// View runs a read transaction; see boltDB.
func (db *boltDB) View(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = damaged(db.path, r)
		}
	}()
	return db.DB.View(fn)
}

// Update runs a write transaction; see boltDB. A transaction that panics
// is rolled back by bbolt before the panic reaches here: nothing of it is
// written.
func (db *boltDB) Update(fn func(*bolt.Tx) error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = damaged(db.path, r)
		}
	}()
	return db.DB.Update(fn)
}

// damaged turns a recovered panic into a *DamagedError when it came from
// bbolt or from a fault reading the mapped file; any other panic is a bug
// elsewhere and goes on (it must not be reported as a damaged file). It
// is called from the deferred function, where the panicking frames are
// still on the stack.
func damaged(path string, r any) error {
	if rec, ok := r.(damagedRecord); ok {
		return &DamagedError{Path: path, Detail: rec.String()}
	}
	if !fromBolt() {
		var addr interface{ Addr() uintptr }
		re, isRuntime := r.(runtime.Error)
		if !isRuntime || !errors.As(re, &addr) || addr.Addr() < 1<<16 {
			panic(r)
		}
		// A fault at an address that is not nil-ish: the only memory
		// that is not Go's own is bbolt's map of the file, read through
		// a key or value slice.
	}
	detail := fmt.Sprint(r)
	if e, ok := r.(error); ok {
		detail = e.Error()
	}
	return &DamagedError{Path: path, Detail: strings.TrimPrefix(detail, "assertion failed: ")}
}

// fromBolt reports whether the panic being recovered started in bbolt.
func fromBolt() bool {
	pcs := make([]uintptr, 64)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	inPanic := false
	for {
		f, more := frames.Next()
		switch {
		case strings.HasPrefix(f.Function, "runtime."):
			inPanic = true // gopanic, sigpanic, panicmem…
		case inPanic:
			return strings.HasPrefix(f.Function, "go.etcd.io/bbolt")
		}
		if !more {
			return false
		}
	}
}

// maxRecordBytes bounds every record tui writes (a body is at most
// MaxBodyBytes, a CSV row 1 MiB). A longer value can only come from a
// damaged page whose sizes point past it, into memory that is not the
// file.
const maxStoredRecord = 64 << 20

// damagedRecord is what checkRecordSize panics with, inside a transaction,
// where the guard turns it into a *DamagedError.
type damagedRecord struct{ size int }

func (d damagedRecord) String() string {
	return fmt.Sprintf("a record claims to be %d bytes long", d.size)
}

// checkRecordSize stops a transaction that is about to copy a record no tui
// wrote: a damaged page's sizes would have it copy gigabytes of whatever
// memory follows the file's map.
func checkRecordSize(v []byte) {
	if len(v) > maxStoredRecord {
		panic(damagedRecord{len(v)})
	}
}

// openBolt opens path with bbolt, turning a panic during the open (a
// freelist page that is not one) into a *DamagedError. bbolt may then
// still hold the file open and locked; the process is about to say so and
// exit.
func openBolt(path string, opts *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, damaged(path, r)
		}
	}()
	return bolt.Open(path, 0o600, opts)
}

// The first bytes of a bbolt file: two meta pages, each a 16-byte page
// header (id, flags, count, overflow) and then the meta itself.
const (
	pageHeaderSize   = 16
	metaSize         = 64 // magic … checksum
	metaChecksumAt   = 56
	boltVersion      = 2
	pgidNoFreelist   = ^uint64(0)
	flagBranch       = 0x01
	flagLeaf         = 0x02
	flagMeta         = 0x04
	flagFreelist     = 0x10
	minPageSize      = 512
	maxPageSize      = 1 << 20
	bucketHeaderSize = 16
)

// meta is a decoded meta page.
type meta struct {
	pageSize       uint32
	root, freelist uint64
	pgid, txid     uint64 // pgid: the high-water mark, in pages
}

// readMeta decodes the meta page at off, or says what is wrong with it.
func readMeta(f io.ReaderAt, off int64) (meta, error) {
	var buf [pageHeaderSize + metaSize]byte
	if _, err := f.ReadAt(buf[:], off); err != nil {
		return meta{}, fmt.Errorf("the meta page at byte %d cannot be read: %w", off, err)
	}
	le := binary.LittleEndian
	m := buf[pageHeaderSize:]
	if le.Uint16(buf[8:]) != flagMeta {
		return meta{}, fmt.Errorf("the page at byte %d is not a meta page", off)
	}
	if le.Uint32(m[0:]) != boltMagic {
		return meta{}, fmt.Errorf("the meta page at byte %d has the wrong magic number", off)
	}
	if le.Uint32(m[4:]) != boltVersion {
		return meta{}, fmt.Errorf("the meta page at byte %d has format version %d, not %d", off, le.Uint32(m[4:]), boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:metaChecksumAt])
	if h.Sum64() != le.Uint64(m[metaChecksumAt:]) {
		return meta{}, fmt.Errorf("the meta page at byte %d fails its checksum", off)
	}
	md := meta{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]),
		pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}
	if md.pageSize < minPageSize || md.pageSize > maxPageSize || md.pageSize&(md.pageSize-1) != 0 {
		return meta{}, fmt.Errorf("the meta page at byte %d gives a page size of %d", off, md.pageSize)
	}
	return md, nil
}

// currentMeta is the meta bbolt would use: the valid one of the two with
// the later transaction.
func currentMeta(f io.ReaderAt) (meta, error) {
	m0, err0 := readMeta(f, 0)
	off := int64(os.Getpagesize())
	if err0 == nil {
		off = int64(m0.pageSize)
	}
	m1, err1 := readMeta(f, off)
	switch {
	case err0 == nil && err1 == nil:
		if m1.txid > m0.txid {
			return m1, nil
		}
		return m0, nil
	case err0 == nil:
		return m0, nil
	case err1 == nil:
		return m1, nil
	}
	return meta{}, fmt.Errorf("both meta pages are damaged (%v; %v)", err0, err1)
}

// checkFile is what Open checks before bbolt maps the file: that it is not
// empty, that a meta page is intact, that the file is as long as that meta
// says, and that the pages the meta points to are of their kind. A file
// with the magic number that fails these is damaged; one without it is not
// a tui database at all.
func checkFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open database %s: %w", path, err)
	}
	if info.IsDir() {
		return &PathError{Path: path, Err: ErrNotDatabase}
	}
	if info.Size() == 0 {
		return &PathError{Path: path, Err: ErrEmpty}
	}
	var hdr [pageHeaderSize + 4]byte
	if _, err := f.ReadAt(hdr[:], 0); err != nil || binary.LittleEndian.Uint32(hdr[pageHeaderSize:]) != boltMagic {
		return &PathError{Path: path, Err: ErrNotDatabase}
	}
	m, err := currentMeta(f)
	if err != nil {
		return &DamagedError{Path: path, Detail: err.Error()}
	}
	ps := int64(m.pageSize)
	if end := int64(m.pgid) * ps; info.Size() < end {
		return &DamagedError{Path: path, Detail: fmt.Sprintf(
			"it is %d bytes long but its pages go up to byte %d: it was cut short (a full disk, a copy that did not finish?)", info.Size(), end)}
	}
	if m.root < 2 || m.root >= m.pgid {
		return &DamagedError{Path: path, Detail: fmt.Sprintf("its root page %d is outside the file's %d pages", m.root, m.pgid)}
	}
	if err := checkPageKind(f, m.root, ps, flagBranch|flagLeaf); err != nil {
		return &DamagedError{Path: path, Detail: "its root page: " + err.Error()}
	}
	if m.freelist != pgidNoFreelist {
		if m.freelist < 2 || m.freelist >= m.pgid {
			return &DamagedError{Path: path, Detail: fmt.Sprintf("its freelist page %d is outside the file's %d pages", m.freelist, m.pgid)}
		}
		if err := checkPageKind(f, m.freelist, ps, flagFreelist); err != nil {
			return &DamagedError{Path: path, Detail: "its freelist page: " + err.Error()}
		}
	}
	return nil
}

// checkPageKind reads page id's header and checks that it names itself and
// is one of kinds.
func checkPageKind(f io.ReaderAt, id uint64, pageSize int64, kinds uint16) error {
	var h [pageHeaderSize]byte
	if _, err := f.ReadAt(h[:], int64(id)*pageSize); err != nil {
		return fmt.Errorf("page %d cannot be read: %w", id, err)
	}
	le := binary.LittleEndian
	if got := le.Uint64(h[0:]); got != id {
		return fmt.Errorf("page %d calls itself page %d", id, got)
	}
	if flags := le.Uint16(h[8:]); flags&kinds == 0 || flags&(flags-1) != 0 {
		return fmt.Errorf("page %d has the wrong kind (flags %#x)", id, flags)
	}
	return nil
}

// lockShared takes a shared lock on f within LockTimeout, as bbolt's
// read-only open does: it fails while a writer holds the file.
func lockShared(f *os.File) error {
	deadline := time.Now().Add(LockTimeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
		if err == nil || err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
