package queue

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// Redis trouble comes in two kinds. Unreachable means no answer at all: the
// server is down, restarting or cut off, and waiting with backoff is right.
// Everything else is an answer — Redis refused the command — and waiting
// alone may never help: those are named for what they are, with what to do,
// in the worker's log and heartbeat, the pane and `send --wait`.

// IsUnreachable reports whether err means Redis did not answer (as opposed
// to answering with an error).
func IsUnreachable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "i/o timeout", "connection reset", "broken pipe",
		"use of closed network connection", "redis: client is closed", "no such host", "all sentinels are unreachable",
		"LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"} {
		if strings.Contains(msg, s) {
			// LOADING, MASTERDOWN, TRYAGAIN and CLUSTERDOWN are answers, but
			// ones that pass by themselves (a restart, a failover).
			return true
		}
	}
	return false
}

// ACLRule is what an ACL user of tui's needs on its Redis: its keys, and
// every command but the dangerous ones, with INFO, which tells tui a
// server's topology and replicas.
const ACLRule = "~tui:* &* +@all -@dangerous +info"

// Explain turns a Redis error into one sentence: what happened and what to
// do. Unreachable errors keep go-redis's words; refusals are named.
func Explain(err error) string {
	if err == nil {
		return ""
	}
	if s := explainTLS(err); s != "" {
		return s
	}
	msg := err.Error()
	code := replyCode(msg)
	switch code {
	case "OOM":
		return "Redis is out of memory and refuses writes (OOM: used memory above maxmemory): raise maxmemory or free memory on the server; sending resumes by itself"
	case "READONLY":
		return "Redis answered from a read-only replica (READONLY): point REDIS_URL at the master, or at the Sentinels with ?master_name=NAME"
	case "CROSSSLOT":
		return "Redis Cluster refused a command spanning slots (CROSSSLOT): " + msg
	case "MOVED", "ASK":
		return "Redis Cluster redirected a command (" + code + ") that was not followed: " + msg + " — give the Cluster's nodes in REDIS_URL (?addr=host:port for each)"
	case "CLUSTERDOWN":
		return "Redis Cluster is down (CLUSTERDOWN): some slots have no master; sending resumes when the Cluster is whole again"
	case "NOSCRIPT":
		return "Redis lost its script cache (NOSCRIPT) and did not take the script again: " + msg
	case "EXECABORT":
		return "Redis refused a transaction (EXECABORT): " + msg
	case "LOADING":
		return "Redis is loading its data after a restart (LOADING); sending resumes when it is done"
	case "MASTERDOWN":
		return "the Redis replica lost its master (MASTERDOWN); sending resumes after the failover"
	case "MISCONF":
		return "Redis refuses writes because it cannot save to disk (MISCONF): fix the server's disk or its save settings"
	case "NOAUTH":
		return "Redis requires a password (NOAUTH): put it in REDIS_URL (redis://:PASSWORD@host:port)"
	case "WRONGPASS":
		return "Redis refused the user name or password (WRONGPASS): check REDIS_URL"
	case "NOPERM":
		return "the Redis ACL user lacks a permission tui needs (NOPERM): " + msg + " — give it these permissions: ACL SETUSER NAME " + ACLRule
	case "BUSY":
		return "Redis is busy running a long script (BUSY); sending resumes when it ends"
	case "WRONGTYPE":
		return "a key under tui: holds another type (WRONGTYPE): another program uses the tui: prefix on this Redis — give tui its own database or server"
	}
	if code != "" {
		return "Redis refused a command (" + code + "): " + msg
	}
	return msg
}

// replyCode is the leading upper-case word of a Redis error reply ("OOM",
// "READONLY"), or "" for errors that are not replies.
func replyCode(msg string) string {
	msg = strings.TrimPrefix(msg, "redis: ")
	end := strings.IndexAny(msg, " :")
	if end <= 0 {
		end = len(msg)
	}
	word := msg[:end]
	for _, r := range word {
		if (r < 'A' || r > 'Z') && r != '_' {
			return ""
		}
	}
	if len(word) < 3 || word == "ERR" {
		return ""
	}
	return word
}

// explainTLS names certificate trouble as such: an untrusted server, a
// client certificate the server wants, a name that does not match.
func explainTLS(err error) string {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	msg := err.Error()
	switch {
	case errors.As(err, &unknown) || strings.Contains(msg, "certificate signed by unknown authority"):
		return "TLS: the Redis server's certificate is not trusted (signed by an unknown authority): give tui its CA with ?tls_ca=/path/ca.pem in REDIS_URL or REDIS_TLS_CA, or ?insecure_skip_verify=1 to skip the check (not for production)"
	case errors.As(err, &hostname) || strings.Contains(msg, "certificate is valid for"):
		return "TLS: the Redis server's certificate does not name the host in REDIS_URL (" + msg + "): use a host name the certificate holds"
	case errors.As(err, &invalid) || (errors.As(err, &verify) && verify != nil):
		return "TLS: the Redis server's certificate is not valid (" + msg + ")"
	case strings.Contains(msg, "certificate required") || strings.Contains(msg, "bad certificate") ||
		strings.Contains(msg, "unknown certificate authority") && strings.Contains(msg, "remote error"):
		return "TLS: the Redis server wants a client certificate it trusts (" + msg + "): give tui one with ?tls_cert=/path/cert.pem&tls_key=/path/key.pem in REDIS_URL or REDIS_TLS_CERT and REDIS_TLS_KEY"
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return "TLS: the server at REDIS_URL does not speak TLS: use redis:// instead of rediss://, or the server's TLS port"
	}
	return ""
}
