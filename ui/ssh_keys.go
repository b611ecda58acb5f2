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
	"net"
	"os"
	"path"
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
	keys  map[string]*authorizedKey // marshalled key → its line
	err   error                     // why the last read failed (the file is missing…)
}

// authorizedKey is one line of the file: a key and what its options allow.
type authorizedKey struct {
	comment string
	line    int
	from    []string  // from="…": the addresses it may log in from; nil: any
	expires time.Time // expiry-time="…"; zero: never
	// refused says why the key may not log in at all: an option tui
	// cannot honour (command=, permitopen=, …). OpenSSH would enforce
	// it; ignoring it would grant more than the line says.
	refused string
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
	usable := 0
	for _, k := range a.keys {
		if k.refused == "" {
			usable++
		}
	}
	if usable == 0 && a.err == nil {
		if len(a.keys) > 0 {
			return 0, &NoAuthorizedKeysError{Path: a.path, Reason: "has only keys whose options tui cannot honour (see the log above)"}
		}
		return 0, &NoAuthorizedKeysError{Path: a.path, Reason: "has no keys"}
	}
	return usable, a.err
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
		a.keys = map[string]*authorizedKey{}
		if errors.Is(err, fs.ErrNotExist) {
			a.err = &NoAuthorizedKeysError{Path: a.path, Reason: "does not exist"}
		} else {
			a.err = fmt.Errorf("read the authorized keys %s: %w", a.path, err)
		}
		return
	}
	data, err := os.ReadFile(a.path)
	if err != nil {
		a.keys, a.err = map[string]*authorizedKey{}, fmt.Errorf("read the authorized keys %s: %w", a.path, err)
		return
	}
	a.keys, a.err = a.parse(data), nil
}

// parse reads an OpenSSH authorized_keys file. A line it cannot read is
// reported and skipped: one typo must not lock everybody out. A key whose
// options tui cannot honour is kept, refused, and reported at the level of
// an error, so that nobody believes it works as written.
func (a *authorizedKeys) parse(data []byte) map[string]*authorizedKey {
	keys := map[string]*authorizedKey{}
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
		ak := &authorizedKey{comment: comment, line: n}
		applyKeyOptions(ak, options)
		switch {
		case ak.refused != "":
			a.log.Error("authorized_keys: this key is refused: "+ak.refused,
				"file", a.path, "line", n, "fingerprint", Fingerprint(key))
		case len(options) > 0:
			a.log.Info("authorized_keys: key options honoured", "file", a.path, "line", n,
				"options", strings.Join(options, ","), "fingerprint", Fingerprint(key))
		}
		keys[string(key.Marshal())] = ak
	}
	return keys
}

// applyKeyOptions reads a line's options (OpenSSH's sshd(8) AUTHORIZED_KEYS
// FILE FORMAT) into ak. Those that forbid what tui never does anyway
// (forwarding, X11, agent, user rc) are honoured by being true already;
// from= and expiry-time= are enforced; anything that asks for something
// tui does not do refuses the key.
func applyKeyOptions(ak *authorizedKey, options []string) {
	for _, opt := range options {
		name, value, hasValue := strings.Cut(opt, "=")
		name = strings.ToLower(name)
		value = strings.Trim(value, `"`)
		switch {
		case !hasValue && (name == "restrict" || name == "no-port-forwarding" || name == "no-agent-forwarding" ||
			name == "no-x11-forwarding" || name == "no-user-rc" || name == "pty" ||
			name == "port-forwarding" || name == "agent-forwarding" || name == "x11-forwarding" || name == "user-rc"):
			// tui --ssh forwards nothing, runs no rc, and needs a terminal.
		case !hasValue && name == "no-pty":
			ak.refused = "no-pty forbids a terminal, and tui is a terminal app: remove the option or the key"
		case name == "from" && hasValue:
			ak.from = strings.Split(value, ",")
			for _, p := range ak.from {
				if err := checkFromPattern(p); err != nil {
					ak.refused = fmt.Sprintf("from=%q: %v; fix the pattern", value, err)
				}
			}
		case name == "expiry-time" && hasValue:
			t, err := parseExpiry(value)
			if err != nil {
				ak.refused = fmt.Sprintf("expiry-time=%q is not YYYYMMDD[HHMM[SS]][Z]; fix it", value)
			}
			ak.expires = t
		default:
			what := name
			if hasValue {
				what += "="
			}
			ak.refused = fmt.Sprintf("the option %s is not supported by tui --ssh, which serves only the TUI; "+
				"honouring it is impossible and ignoring it would grant more than the line says. Remove the option, or give this person a key of their own", what)
		}
		if ak.refused != "" {
			return
		}
	}
}

// parseExpiry reads expiry-time's YYYYMMDD[HHMM[SS]], in local time unless
// it ends in Z.
func parseExpiry(v string) (time.Time, error) {
	loc := time.Local
	if strings.HasSuffix(v, "Z") || strings.HasSuffix(v, "z") {
		v, loc = v[:len(v)-1], time.UTC
	}
	for _, layout := range []string{"20060102150405", "200601021504", "20060102"} {
		if len(v) == len(layout) {
			return time.ParseInLocation(layout, v, loc)
		}
	}
	return time.Time{}, errors.New("bad length")
}

// checkFromPattern accepts what fromAllows can match: an address with * and
// ? wildcards, a CIDR block, a host name (which, as with OpenSSH's default
// UseDNS no, never matches: tui does not look names up), each perhaps
// negated with !.
func checkFromPattern(p string) error {
	p = strings.TrimPrefix(p, "!")
	if p == "" {
		return errors.New("an empty pattern")
	}
	if strings.Contains(p, "/") {
		if _, _, err := net.ParseCIDR(p); err != nil {
			return fmt.Errorf("%q is not an address block", p)
		}
	}
	return nil
}

// fromAllows applies a from= pattern list to the client's address as
// OpenSSH does: a negated pattern that matches refuses, whatever else
// matches; otherwise one pattern must match.
func fromAllows(patterns []string, ip net.IP) bool {
	addr := ip.String()
	if v4 := ip.To4(); v4 != nil {
		addr = v4.String()
	}
	allowed := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		p = strings.TrimPrefix(p, "!")
		var match bool
		if strings.Contains(p, "/") {
			_, block, err := net.ParseCIDR(p)
			match = err == nil && block.Contains(ip)
		} else {
			match, _ = path.Match(strings.ToLower(p), addr)
		}
		switch {
		case match && neg:
			return false
		case match:
			allowed = true
		}
	}
	return allowed
}

// allows reports whether key may log in from remote, reading the file
// again if it changed since the last attempt; when not, why.
func (a *authorizedKeys) allows(key gossh.PublicKey, remote net.Addr) (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refreshLocked()
	if ak, ok := a.keys[string(key.Marshal())]; ok {
		where := fmt.Sprintf(" (line %d of %s)", ak.line, a.path)
		switch {
		case ak.refused != "":
			return false, "the key's line has an option tui cannot honour" + where + ": " + ak.refused
		case !ak.expires.IsZero() && time.Now().After(ak.expires):
			return false, "the key expired at " + ak.expires.Format(time.RFC3339) + where
		case ak.from != nil:
			ip := remoteIP(remote)
			if ip == nil || !fromAllows(ak.from, ip) {
				return false, fmt.Sprintf("the key may log in only from %s%s, not from %s", strings.Join(ak.from, ","), where, remoteOf(remote))
			}
		}
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

func remoteIP(a net.Addr) net.IP {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP
	case nil:
		return nil
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return nil
	}
	return net.ParseIP(host)
}
