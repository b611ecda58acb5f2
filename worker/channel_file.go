package worker

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"tui/internal/jsonstr"
)

// FileChannel appends one JSON object per successful delivery to an outbox
// file: the dry-run channel, and the one tests count deliveries with.
//
// Whole lines are written with a single write(2) on a file opened with
// O_APPEND (one line by Deliver; a deliverer's chunk of lines at once by
// writeLines), so several worker processes appending to one outbox on a
// local file system never interleave their lines (NFS does not promise
// this); the mutex does the same for the goroutines of one process and
// keeps a write from racing Close.
//
// A line holds: campaign and contact (numbers), key (the idempotency key,
// campaignID:contactID), to, channel, subject, body (the text part), html
// (only when the message has an HTML part), unsubscribe_url (only when the
// message carries one), test (only for a test send), attempt, worker, and at
// (RFC 3339 in UTC, with the fraction of a second when it is not zero).
//
// The outbox follows its path: when the file is moved (logrotate) or
// deleted, the next line goes to a new file at the path, checked at most
// once a second; after ReopenOutboxes (SIGHUP) it is reopened at once.
type FileChannel struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	f       *os.File
	closed  bool
	checked time.Time // when the path was last compared with the open file
	gen     uint64    // the reopenGeneration the file was opened under
}

// outboxCheckEvery is how often a delivery looks whether the outbox was
// moved or deleted: a stat per second, not one per line.
const outboxCheckEvery = time.Second

// reopenGeneration counts ReopenOutboxes calls, process-wide: a signal is.
var reopenGeneration atomic.Uint64

// ReopenOutboxes makes every file channel of the process reopen its outbox
// before its next line. The worker calls it on SIGHUP, as daemons reopen
// their logs after logrotate.
func ReopenOutboxes() { reopenGeneration.Add(1) }

// NewFileChannel opens (creating when needed) the outbox at path for
// appending. /dev/null and /dev/stdout are valid paths.
func NewFileChannel(path string) (*FileChannel, error) {
	if path == "" {
		return nil, fmt.Errorf("the file channel needs an outbox: pass --outbox PATH to the worker or set TUI_OUTBOX")
	}
	f, err := openOutbox(path)
	if err != nil {
		return nil, err
	}
	return &FileChannel{path: path, f: f, now: time.Now, checked: time.Now(), gen: reopenGeneration.Load()}, nil
}

func openOutbox(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open the outbox %s: %w (check that its directory exists and is writable, or pass another --outbox)", path, err)
	}
	return f, nil
}

// follow reopens the outbox when asked to, or when the file at the path is
// no longer the one open (moved or deleted). c.mu is held.
func (c *FileChannel) follow(now time.Time) error {
	gen := reopenGeneration.Load()
	asked := gen != c.gen
	if !asked && now.Sub(c.checked) < outboxCheckEvery {
		return nil
	}
	c.checked, c.gen = now, gen
	if !asked {
		atPath, err := os.Stat(c.path)
		open, ferr := c.f.Stat()
		if err == nil && ferr == nil && os.SameFile(atPath, open) {
			return nil
		}
	}
	f, err := openOutbox(c.path)
	if err != nil {
		return err
	}
	_ = c.f.Close()
	c.f = f
	return nil
}

// Path is the outbox the channel appends to.
func (c *FileChannel) Path() string { return c.path }

// lineBufs recycles line buffers so that a delivery allocates nothing at
// full speed; buffers grown by a huge message are not kept.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledLine = 64 << 10

// Deliver appends the delivery's line to the outbox.
func (c *FileChannel) Deliver(ctx context.Context, d Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	bp := lineBufs.Get().(*[]byte)
	now := c.now()
	line := appendOutboxLine((*bp)[:0], &d, now)
	_, err := c.writeLines(ctx, line, now)
	if cap(line) <= maxPooledLine {
		*bp = line
		lineBufs.Put(bp)
	}
	return err
}

// appendLine appends the delivery's outbox line to b, to be written by
// writeLines with others: a deliverer gathers the lines of its chunk and
// writes them at once.
func (c *FileChannel) appendLine(b []byte, d Delivery) []byte {
	return appendOutboxLine(b, &d, c.now())
}

// writeLines writes whole lines to the outbox with one write(2). It returns
// how many bytes were written: on an error, the lines wholly before that
// point are in the file and the rest are not.
func (c *FileChannel) writeLines(ctx context.Context, lines []byte, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, Transient("the outbox %s is closed: the worker is shutting down", c.path)
	}
	if err := c.follow(now); err != nil {
		return 0, Transient("%v", err)
	}
	n, err := c.f.Write(lines)
	if err != nil {
		return n, Transient("write to the outbox %s: %v", c.path, err)
	}
	return n, nil
}

// Close closes the outbox; later deliveries fail as transient, so their jobs
// go to another worker.
func (c *FileChannel) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if err := c.f.Close(); err != nil {
		return fmt.Errorf("close the outbox %s: %w", c.path, err)
	}
	return nil
}

// appendOutboxLine encodes by hand: encoding/json would cost several
// allocations per delivery, which shows at 100,000 deliveries a second.
func appendOutboxLine(b []byte, d *Delivery, now time.Time) []byte {
	j := &d.Job
	b = append(b, `{"campaign":`...)
	b = strconv.AppendUint(b, j.CampaignID, 10)
	b = append(b, `,"contact":`...)
	b = strconv.AppendUint(b, j.ContactID, 10)
	// Key() formats with fmt; the same text without the allocation.
	b = append(b, `,"key":"`...)
	b = strconv.AppendUint(b, j.CampaignID, 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, j.ContactID, 10)
	b = append(b, `","to":`...)
	b = jsonstr.AppendNoHTML(b, j.To)
	b = append(b, `,"channel":`...)
	if j.Channel == "" {
		b = append(b, `"file"`...)
	} else {
		b = jsonstr.AppendNoHTML(b, j.Channel)
	}
	b = append(b, `,"subject":`...)
	b = jsonstr.AppendNoHTML(b, j.Subject)
	b = appendBodyParts(b, j)
	b = append(b, `,"attempt":`...)
	b = strconv.AppendInt(b, int64(d.Attempt), 10)
	if j.Redelivery {
		b = append(b, `,"redelivery":true`...)
	}
	b = append(b, `,"worker":`...)
	b = jsonstr.AppendNoHTML(b, d.Worker)
	b = append(b, `,"at":"`...)
	b = now.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, "\"}\n"...)
	return b
}
