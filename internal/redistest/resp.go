package redistest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// The package speaks RESP itself rather than through go-redis, so that
// setting up and inspecting a topology never depends on the client the
// tests are about.

// RedisError is an error reply from the server ("-ERR ...").
type RedisError string

func (e RedisError) Error() string { return string(e) }

func isAuthError(err error) bool {
	var re RedisError
	return errors.As(err, &re) && (strings.HasPrefix(string(re), "NOAUTH") || strings.HasPrefix(string(re), "WRONGPASS"))
}

const cmdTimeout = 5 * time.Second

// query opens a connection, authenticates when password is set, runs one
// command and closes. Loopback connections are cheap, and a fresh one per
// command keeps the helpers free of shared state.
func query(addr string, tlsCfg *tls.Config, password string, args ...string) (any, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	var conn net.Conn
	var err error
	if tlsCfg != nil {
		conn, err = tls.DialWithDialer(&d, "tcp", addr, tlsCfg)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(cmdTimeout))
	r := bufio.NewReader(conn)
	if password != "" {
		if err := writeCommand(conn, "AUTH", password); err != nil {
			return nil, err
		}
		if _, err := readReply(r); err != nil {
			return nil, fmt.Errorf("AUTH on %s: %w", addr, err)
		}
	}
	if err := writeCommand(conn, args...); err != nil {
		return nil, err
	}
	return readReply(r)
}

func writeCommand(w io.Writer, args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// readReply returns a string, an int64, nil, or a []any of those; an
// error reply comes back as a RedisError.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty RESP line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, RedisError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			v, err := readReply(r)
			var re RedisError
			if errors.As(err, &re) {
				// An error inside an array (EXEC) is a value, not a
				// broken connection: keep reading the rest.
				out[i] = re
				continue
			}
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unexpected RESP reply %q", line)
	}
}

// text renders a reply the way redis-cli --raw does: arrays one element a
// line, nested arrays flattened, nil as an empty string.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case RedisError:
		return string(v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = text(e)
		}
		return strings.Join(parts, "\n")
	}
	return fmt.Sprint(v)
}

// doText runs a command and renders its reply as text.
func doText(addr string, tlsCfg *tls.Config, password string, args ...string) (string, error) {
	v, err := query(addr, tlsCfg, password, args...)
	if err != nil {
		return "", err
	}
	return text(v), nil
}

// infoField reads one "name:value" line of an INFO or CLUSTER INFO reply.
func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// pairs turns a flat [k1 v1 k2 v2 ...] reply (SENTINEL replicas entries)
// into a map.
func pairs(v any) map[string]string {
	arr, _ := v.([]any)
	m := make(map[string]string, len(arr)/2)
	for i := 0; i+1 < len(arr); i += 2 {
		m[text(arr[i])] = text(arr[i+1])
	}
	return m
}
