package ui

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// The keys of `tui --ssh`: the server's own host key, made once and kept so
// that clients can trust it, and the authorized_keys file that says who may
// connect. Both are plain OpenSSH files an operator already knows how to
// manage.

// HostKeyFileName is the host key's name beside the database.
const HostKeyFileName = "ssh_host_ed25519_key"

// LoadOrCreateHostKey reads the ed25519 host key at path, or creates it
// (mode 0600 in a 0700 directory, with its public half in path.pub) when it
// does not exist. created says which happened.
func LoadOrCreateHostKey(path string) (signer gossh.Signer, created bool, err error) {
	signer, err = readHostKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return signer, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create the host key's directory: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("generate the SSH host key: %w", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "tui host key")
	if err != nil {
		return nil, false, fmt.Errorf("encode the SSH host key: %w", err)
	}
	if err := writeNewFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process made it between our read and our write: use
			// theirs, so both agree on the key clients were shown.
			signer, err = readHostKey(path)
			return signer, false, err
		}
		return nil, false, fmt.Errorf("write the SSH host key %s: %w", path, err)
	}
	signer, err = gossh.NewSignerFromKey(priv)
	if err != nil {
		return nil, false, err
	}
	// The public half lets an operator hand clients the fingerprint or a
	// known_hosts line; losing it loses nothing.
	_ = os.WriteFile(path+".pub", gossh.MarshalAuthorizedKey(signer.PublicKey()), 0o644)
	return signer, true, nil
}

func readHostKey(path string) (gossh.Signer, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the SSH host key %s can be read by other users (mode %04o): run chmod 600 %s", path, info.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the SSH host key: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("the SSH host key %s is not an unencrypted OpenSSH private key (%v): point --host-key at another path to make a new one (clients will then be told the host key changed)", path, err)
	}
	return signer, nil
}

// writeNewFile writes data to path only if path does not exist, and never
// leaves a half-written key behind: a crash mid-write leaves a temporary
// file, not a key the next start would fail to read.
func writeNewFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path)
}

// Fingerprint is the SHA256 fingerprint OpenSSH prints for key
// ("SHA256:…"), or "" without a key.
func Fingerprint(key gossh.PublicKey) string {
	if key == nil {
		return ""
	}
	return gossh.FingerprintSHA256(key)
}

// SSHActor is who a session acts as in the audit log and in UpdatedBy: the
// SSH user and the fingerprint of the key that proved it.
func SSHActor(user string, key gossh.PublicKey) string {
	if user == "" {
		user = "unknown"
	}
	return user + " (" + Fingerprint(key) + ")"
}

// NoAuthorizedKeysError is why the server will not start: nobody could log
// in. Its text says how to add a key.
type NoAuthorizedKeysError struct {
	Path   string
	Reason string // "does not exist", "has no keys", …
}

func (e *NoAuthorizedKeysError) Error() string {
	dir := filepath.Dir(e.Path)
	return fmt.Sprintf(`no SSH keys are authorized: %s %s.
Add the public key of each person who may connect (one per line), then start again:
  mkdir -p %s && cat ~/.ssh/id_ed25519.pub >> %s
No key yet? Make one on your own machine with: ssh-keygen -t ed25519
(--authorized-keys FILE uses another file; keys added later work without a restart.)`,
		e.Path, e.Reason, shellQuote(dir), shellQuote(e.Path))
}

// shellQuote quotes s for a shell line a person may paste.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r == '/' || r == '.' || r == '_' || r == '-' || r == '~' || r == '+' || r == ':' || r == '@' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9'))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// authorizedKeys is the authorized_keys file, read again whenever it
// changes, so that adding or removing a person needs no restart.
type authorizedKeys struct {
	path string
	log  *slog.Logger

	mu    sync.Mutex
	stamp fileStamp
	keys  map[string]string // marshalled key → its comment
	err   error             // why the last read failed (the file is missing…)
}

// fileStamp tells whether a file changed since it was read.
type fileStamp struct {
	exists  bool
	size    int64
	modTime time.Time
}

func newAuthorizedKeys(path string, log *slog.Logger) *authorizedKeys {
	return &authorizedKeys{path: path, log: log}
}

// refresh re-reads the file when it changed and returns how many keys it
// holds and, when it holds none, why.
func (a *authorizedKeys) refresh() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refreshLocked()
	if len(a.keys) == 0 && a.err == nil {
		return 0, &NoAuthorizedKeysError{Path: a.path, Reason: "has no keys"}
	}
	return len(a.keys), a.err
}

func (a *authorizedKeys) refreshLocked() {
	info, err := os.Stat(a.path)
	var st fileStamp
	if err == nil {
		st = fileStamp{exists: true, size: info.Size(), modTime: info.ModTime()}
	}
	if st == a.stamp && a.keys != nil {
		return
	}
	a.stamp = st
	if err != nil {
		a.keys = map[string]string{}
		if errors.Is(err, fs.ErrNotExist) {
			a.err = &NoAuthorizedKeysError{Path: a.path, Reason: "does not exist"}
		} else {
			a.err = fmt.Errorf("read the authorized keys %s: %w", a.path, err)
		}
		return
	}
	data, err := os.ReadFile(a.path)
	if err != nil {
		a.keys, a.err = map[string]string{}, fmt.Errorf("read the authorized keys %s: %w", a.path, err)
		return
	}
	a.keys, a.err = a.parse(data), nil
}

// parse reads an OpenSSH authorized_keys file. A line it cannot read is
// reported and skipped: one typo must not lock everybody out.
func (a *authorizedKeys) parse(data []byte) map[string]string {
	keys := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		key, comment, options, _, err := gossh.ParseAuthorizedKey(line)
		if err != nil {
			a.log.Warn("authorized_keys: a line is not a public key; it is skipped",
				"file", a.path, "line", n, "err", err.Error())
			continue
		}
		if len(options) > 0 {
			// from=, command= and the rest are OpenSSH's to enforce; here
			// they would be silently meaningless, so say so.
			a.log.Warn("authorized_keys: key options are not supported by tui --ssh and are ignored",
				"file", a.path, "line", n, "options", strings.Join(options, ","), "fingerprint", Fingerprint(key))
		}
		keys[string(key.Marshal())] = comment
	}
	return keys
}

// allows reports whether key may log in, reading the file again if it
// changed since the last attempt.
func (a *authorizedKeys) allows(key gossh.PublicKey) (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refreshLocked()
	if _, ok := a.keys[string(key.Marshal())]; ok {
		return true, ""
	}
	var none *NoAuthorizedKeysError
	switch {
	case errors.As(a.err, &none):
		return false, "no key is authorized: " + none.Path + " " + none.Reason
	case a.err != nil:
		return false, a.err.Error()
	}
	return false, "the key is not in " + a.path
}
