package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// A worker's read of jobs comes back as Redis wrote it and is parsed here.
// go-redis's XREADGROUP reply makes a map, two strings and an interface
// for every entry: a third of what a worker allocated, and the parsing
// most of the quarter of its CPU that went to reading. Here an entry costs
// one string, its ID and packed job together, and the reply's bytes go to
// a buffer that is used again.

// rawDoer sends a command and hands back its reply's bytes unparsed: the
// clients and a connection taken from one.
type rawDoer interface {
	DoRawWriteTo(ctx context.Context, w io.Writer, args ...any) *redis.RawWriteToCmd
}

// replyBufs hold replies being parsed; one that grew past maxReplyBuf is
// dropped rather than kept.
var replyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxReplyBuf = 4 << 20

// readRaw reads with XREADGROUP and parses the reply itself. An error reply
// comes back as a replyError, nothing read (Redis ran nothing).
func readRaw(ctx context.Context, r rawDoer, consumer string, streams []string, campaigns []uint64, count int, block time.Duration) ([]Fetched, error) {
	args := make([]any, 0, 9+len(streams))
	args = append(args, "xreadgroup", "group", Group, consumer, "count", count, "block", block.Milliseconds(), "streams")
	for _, s := range streams {
		args = append(args, s)
	}
	buf := replyBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxReplyBuf {
			replyBufs.Put(buf)
		}
	}()
	if err := r.DoRawWriteTo(ctx, buf, args...).Err(); err != nil {
		return nil, err
	}
	return parseReadReply(buf.Bytes(), campaigns)
}

// rawReadFits reports whether a raw read blocking for block stays within
// the client's read timeout: go-redis gives its own XREADGROUP the block on
// top of that timeout, a raw command only the timeout.
func rawReadFits(rdb redis.UniversalClient, block time.Duration) bool {
	var rt time.Duration
	switch c := rdb.(type) {
	case *redis.Client:
		rt = c.Options().ReadTimeout
	case *redis.ClusterClient:
		rt = c.Options().ReadTimeout
	default:
		return false
	}
	if rt == 0 {
		rt = 3 * time.Second // go-redis's default
	}
	return rt < 0 || block*2 <= rt
}

// replyError is an error Redis answered with, as go-redis's own are: its
// text is Redis's, and it satisfies redis.Error.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

// respReader walks a reply's bytes.
type respReader struct {
	b       []byte
	i       int
	scratch []byte
}

var (
	errShortReply = errors.New("redis: XREADGROUP reply cut short")
	errLongReply  = errors.New("redis: XREADGROUP reply longer than it said")
	crlf          = []byte("\r\n")
)

// minEntry is the fewest bytes a stream entry takes in a reply
// (*2 $1 ID *0), which bounds what a reply's counts may ask for.
const minEntry = 16

// header reads a type byte and the line after it.
func (r *respReader) header() (byte, []byte, error) {
	if r.i >= len(r.b) {
		return 0, nil, errShortReply
	}
	end := bytes.Index(r.b[r.i:], crlf)
	if end < 1 {
		return 0, nil, errShortReply
	}
	typ, line := r.b[r.i], r.b[r.i+1:r.i+end]
	r.i += end + 2
	return typ, line, nil
}

// aggregate reads the header of an array (or a map, counted in pairs);
// null says a null reply, of either protocol.
func (r *respReader) aggregate() (n int, null bool, err error) {
	typ, line, err := r.header()
	if err != nil {
		return 0, false, err
	}
	switch typ {
	case '_':
		return 0, true, nil
	case '-':
		return 0, false, replyError(line)
	case '!':
		msg, err := r.blobAfter(line)
		if err != nil {
			return 0, false, err
		}
		return 0, false, replyError(msg)
	case '*', '%', '~':
		n, err := r.count(typ, line)
		return max(n, 0), n < 0, err
	}
	return 0, false, fmt.Errorf("redis: unexpected %q in an XREADGROUP reply", typ)
}

// count reads an aggregate's length: its elements, a map's counted in
// pairs, negative for a null. Each element takes three bytes at least, so
// a count beyond the bytes left is a reply cut short.
func (r *respReader) count(typ byte, line []byte) (int, error) {
	n, err := strconv.Atoi(string(line))
	if err != nil {
		return 0, fmt.Errorf("redis: bad length %q in an XREADGROUP reply", line)
	}
	if n > len(r.b)-r.i {
		return 0, errShortReply
	}
	if typ == '%' {
		n *= 2
	}
	return n, nil
}

// bulk reads a string.
func (r *respReader) bulk() ([]byte, error) {
	typ, line, err := r.header()
	if err != nil {
		return nil, err
	}
	switch typ {
	case '$':
		return r.blobAfter(line)
	case '+':
		return line, nil
	}
	return nil, fmt.Errorf("redis: unexpected %q for a string in an XREADGROUP reply", typ)
}

// field reads an entry's field: its name, then its value.
func (r *respReader) field() (name, value []byte, err error) {
	if name, err = r.bulk(); err != nil {
		return nil, nil, err
	}
	value, err = r.bulk()
	return name, value, err
}

// blobAfter reads the bytes a blob's length line announced.
func (r *respReader) blobAfter(line []byte) ([]byte, error) {
	n, err := strconv.Atoi(string(line))
	if err != nil || n < 0 {
		return nil, fmt.Errorf("redis: bad length %q in an XREADGROUP reply", line)
	}
	if n > len(r.b)-r.i-2 {
		return nil, errShortReply
	}
	if r.b[r.i+n] != '\r' || r.b[r.i+n+1] != '\n' {
		return nil, errors.New("redis: a string of an XREADGROUP reply is not the length it said")
	}
	s := r.b[r.i : r.i+n]
	r.i += n + 2
	return s, nil
}

// skip passes over one value of any kind.
func (r *respReader) skip() error {
	typ, line, err := r.header()
	if err != nil {
		return err
	}
	switch typ {
	case '$', '!', '=':
		_, err := r.blobAfter(line)
		return err
	case '*', '%', '~', '>':
		n, err := r.count(typ, line)
		if err != nil {
			return err
		}
		for ; n > 0; n-- {
			if err := r.skip(); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseReadReply reads XREADGROUP's reply, in RESP2 (an array of [stream,
// entries]) or RESP3 (a map of stream to entries).
func parseReadReply(b []byte, campaigns []uint64) ([]Fetched, error) {
	r := &respReader{b: b}
	if len(b) > 0 && b[0] == '|' { // RESP3 attributes ahead of the reply
		if err := r.skip(); err != nil {
			return nil, err
		}
	}
	top := r.i
	n, null, err := r.aggregate()
	if err != nil || null {
		return nil, err
	}
	isMap := b[top] == '%'
	if isMap {
		n /= 2
	}
	var out []Fetched
	for s := 0; s < n; s++ {
		if !isMap {
			if k, _, err := r.aggregate(); err != nil {
				return nil, err
			} else if k != 2 {
				return nil, fmt.Errorf("redis: a stream of %d parts in an XREADGROUP reply", k)
			}
		}
		name, err := r.bulk()
		if err != nil {
			return nil, err
		}
		id := campaignOf(string(name), campaigns, s)
		m, null, err := r.aggregate()
		if err != nil {
			return nil, err
		}
		if null {
			continue
		}
		if out == nil {
			out = make([]Fetched, 0, min(m, (len(b)-r.i)/minEntry))
		}
		for e := 0; e < m; e++ {
			// Read into its place: a Fetched is some 400 bytes, and
			// copying each twice was a third of the parse.
			out = append(out, Fetched{})
			if err := r.entry(&out[len(out)-1], id); err != nil {
				return nil, err
			}
		}
	}
	if r.i != len(b) {
		// Bytes past the reply's end. go-redis does not try a raw
		// command again after a cut (NoRetry), which would put two
		// tries' bytes in one buffer; should that change, this says so.
		return nil, errLongReply
	}
	return out, nil
}

// entry reads one stream entry: [ID, fields], and with XREADGROUP's CLAIM
// two counts after them, which a read of new entries does not ask for.
func (r *respReader) entry(f *Fetched, campaignID uint64) error {
	k, _, err := r.aggregate()
	if err != nil {
		return err
	}
	if k != 2 && k != 4 {
		return fmt.Errorf("redis: a stream entry of %d parts in an XREADGROUP reply", k)
	}
	idb, err := r.bulk()
	if err != nil {
		return err
	}
	nf, null, err := r.aggregate()
	if err != nil {
		return err
	}
	switch {
	case !null && nf == 2:
		name, value, err := r.field()
		if err != nil {
			return err
		}
		if string(name) == JobField {
			// The ID and the job in one string: the job's fields are
			// slices of it, and they and the ID live as long.
			r.scratch = append(append(r.scratch[:0], idb...), value...)
			s := string(r.scratch)
			id := s[:len(idb)]
			f.CampaignID, f.EntryID = campaignID, id
			f.Job, f.Err = parsePackedJob(campaignID, id, s[len(idb):])
			break
		}
		*f = fetched(campaignID, redis.XMessage{ID: string(idb), Values: map[string]any{string(name): string(value)}})
	default:
		// Queued by an older tui (one field per value), or an entry
		// deleted while pending (no fields at all).
		values := make(map[string]any, min(nf/2, (len(r.b)-r.i)/8))
		for ; nf > 1; nf -= 2 {
			name, value, err := r.field()
			if err != nil {
				return err
			}
			values[string(name)] = string(value)
		}
		if nf == 1 {
			return errors.New("redis: a stream entry of an XREADGROUP reply has a field without a value")
		}
		if null {
			values = nil
		}
		*f = fetched(campaignID, redis.XMessage{ID: string(idb), Values: values})
	}
	for ; k > 2; k-- {
		if err := r.skip(); err != nil {
			return err
		}
	}
	return nil
}
