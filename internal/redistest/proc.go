package redistest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds every wait for a server or a topology to settle. It
// is generous because a loaded two-core machine running -race tests can
// stall a process for seconds; a healthy start takes milliseconds.
const startTimeout = 30 * time.Second

// pollEvery is how often waits look again.
const pollEvery = 20 * time.Millisecond

// errAddrInUse means another process took the port between our check and
// the server's bind; the caller picks another port.
var errAddrInUse = errors.New("address already in use")

// proc is one redis-server process (data node or sentinel) that can be
// killed and started again with the same port, directory and arguments.
type proc struct {
	name string // for messages: "cluster node 127.0.0.1:21000"
	dir  string
	port int
	// args builds the command line at each start, so a restart can take
	// the node's current role into account.
	args     func() []string
	password string
	tls      *tls.Config // nil for plain TCP

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

func (p *proc) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

func (p *proc) logPath() string { return filepath.Join(p.dir, "redis.log") }

// start runs the process and waits until it answers PING.
func (p *proc) start() error {
	logf, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child holds its own descriptor
	cmd := exec.Command("redis-server", p.args()...)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server for %s: %w", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()

	deadline := time.Now().Add(startTimeout)
	for {
		if _, err := p.do("PING"); err == nil || isAuthError(err) {
			return nil
		}
		select {
		case <-done:
			log := p.logTail()
			if strings.Contains(log, "in use") {
				return fmt.Errorf("%s: %w", p.name, errAddrInUse)
			}
			return fmt.Errorf("%s exited at start:\n%s", p.name, log)
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("%s did not answer PING within %v:\n%s", p.name, startTimeout, p.logTail())
		}
	}
}

// kill sends SIGKILL (no shutdown save, like a crash) and waits for the
// process to be gone, so its port is free for a restart.
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = killGroup(cmd.Process.Pid)
	<-done
}

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// do runs one command on this process.
func (p *proc) do(args ...string) (any, error) {
	return query(p.addr(), p.tls, p.password, args...)
}

// logTail is the end of the server's log, for failure messages.
func (p *proc) logTail() string {
	data, _ := os.ReadFile(p.logPath())
	const max = 4000
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return string(data)
}

// baseArgs are the settings every data node shares: loopback only, no
// persistence (a restart loses everything, like a cache), and a full
// resync that starts at once instead of Redis 7's default five-second
// wait for more replicas to join a diskless transfer.
//
// save "" alone does not make a restart empty: a replica writes the
// snapshot its master sends to dump.rdb and loads it when it starts
// again, so a node that was ever a replica would come back with the data
// of its last full sync. rdb-del-sync-files removes that file.
func baseArgs(port int, dir string) []string {
	return []string{"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--rdb-del-sync-files", "yes",
		"--daemonize", "no", "--protected-mode", "no",
		"--loglevel", "notice", "--repl-diskless-sync-delay", "0"}
}

// optionArgs turns options into command-line arguments; they come last so
// they override the defaults. Each word is its own argument: redis-server
// joins the words after an option into one configuration line, which
// directives of several words (user, save) need.
func optionArgs(opts []Option) []string {
	var args []string
	for _, o := range opts {
		args = append(args, strings.Fields("--"+string(o))...)
	}
	return args
}

// passwordOf finds "requirepass X" among the options.
func passwordOf(opts []Option) string {
	pw := ""
	for _, o := range opts {
		f := strings.Fields(string(o))
		if len(f) == 2 && f[0] == "requirepass" {
			pw = f[1]
		}
	}
	return pw
}

// waitFor polls cond until it returns nil or the deadline passes; the
// error names what was awaited and the last reason it was not yet true.
func waitFor(what string, timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	start, last := time.Now(), ""
	for {
		err := cond()
		if os.Getenv("REDISTEST_DEBUG") != "" && fmt.Sprint(err) != last {
			last = fmt.Sprint(err)
			fmt.Fprintf(os.Stderr, "%6.2fs %s: %v\n", time.Since(start).Seconds(), what, err)
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not reached within %v: %w", what, timeout, err)
		}
		time.Sleep(pollEvery)
	}
}

// tempDir makes a directory that outlives the test that asked for it, as
// a shared topology must; Stop removes it.
func tempDir(prefix string) (string, error) {
	return os.MkdirTemp("", "redistest-"+prefix+"-")
}

// startFresh starts p on a newly chosen port, choosing again when another
// process took the port first. prepare, when set, runs after each choice
// (a sentinel writes its config file there).
func startFresh(p *proc, prepare func() error) error {
	var err error
	for range 5 {
		if p.port, err = freePortPair(); err != nil {
			return err
		}
		// A failed attempt's log would make the next failure look like
		// another port clash.
		_ = os.Remove(p.logPath())
		if prepare != nil {
			if err = prepare(); err != nil {
				return err
			}
		}
		if err = p.start(); !errors.Is(err, errAddrInUse) {
			return err
		}
	}
	return err
}

// requireRedis skips the test when redis-server is not installed.
func requireRedis(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (make test installs it with apt-get)")
	}
}
