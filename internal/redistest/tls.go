package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TLSServer is a redis-server that speaks only TLS, with a CA of its own
// that signed its certificate and a client certificate.
//
// A TLSServer handle is bound to the test that obtained it: its methods
// fail that test. The process may be shared (SharedTLS).
type TLSServer struct {
	t testing.TB
	*tlsServer
}

type tlsServer struct {
	node *proc
	dir  string

	mu      sync.Mutex
	stopped bool
}

// The files StartTLS writes in the server's directory.
const (
	caFile          = "ca.crt"
	serverCertFile  = "server.crt"
	serverKeyFile   = "server.key"
	clientCertFile  = "client.crt"
	clientKeyFile   = "client.key"
	otherCAFile     = "other-ca.crt"
	otherCertFile   = "other-client.crt"
	otherKeyFile    = "other-client.key"
	certValidFor    = 24 * time.Hour
	certBackdatedBy = time.Hour // a clock a little behind must still accept them
)

// StartTLS starts a redis-server listening only on a TLS port
// (--port 0 --tls-port P) that requires a client certificate
// (tls-auth-clients yes). A CA, the server's certificate (for 127.0.0.1
// and localhost) and a client certificate are generated for it, ECDSA
// P-256, as PEM files. It is stopped when the test ends. Options are
// redis-server configuration lines after the defaults
// ("tls-auth-clients optional", "requirepass X").
func StartTLS(t testing.TB, opts ...Option) *TLSServer {
	t.Helper()
	requireRedis(t)
	s, err := startTLS(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return &TLSServer{t: t, tlsServer: s}
}

func startTLS(opts []Option) (_ *tlsServer, err error) {
	dir, err := tempDir("tls")
	if err != nil {
		return nil, err
	}
	s := &tlsServer{dir: dir}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	if err := writeCertificates(dir); err != nil {
		return nil, fmt.Errorf("generate certificates: %w", err)
	}
	cfg, err := clientTLSConfig(filepath.Join(dir, caFile), filepath.Join(dir, clientCertFile), filepath.Join(dir, clientKeyFile))
	if err != nil {
		return nil, err
	}
	n := &proc{dir: dir, password: passwordOf(opts), tls: cfg}
	n.args = func() []string {
		args := append(baseArgs(0, dir), "--tls-port", fmt.Sprint(n.port),
			"--tls-cert-file", filepath.Join(dir, serverCertFile),
			"--tls-key-file", filepath.Join(dir, serverKeyFile),
			"--tls-ca-cert-file", filepath.Join(dir, caFile),
			"--tls-auth-clients", "yes")
		return append(args, optionArgs(opts)...)
	}
	if err := startFresh(n, func() error {
		n.name = "TLS redis-server " + n.addr()
		return nil
	}); err != nil {
		return nil, err
	}
	s.node = n
	return s, nil
}

// writeCertificates makes the trusted CA with a server and a client
// certificate, and an unrelated CA with a client certificate of its own.
func writeCertificates(dir string) error {
	ca, caKey, err := newCert(nil, nil, "redistest CA", true)
	if err != nil {
		return err
	}
	other, otherKey, err := newCert(nil, nil, "redistest unrelated CA", true)
	if err != nil {
		return err
	}
	srv, srvKey, err := newCert(ca, caKey, "redistest server", false, x509.ExtKeyUsageServerAuth,
		x509.ExtKeyUsageClientAuth) // redis-server also dials with it for replication
	if err != nil {
		return err
	}
	cli, cliKey, err := newCert(ca, caKey, "redistest client", false, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return err
	}
	otherCli, otherCliKey, err := newCert(other, otherKey, "redistest untrusted client", false, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return err
	}
	for name, v := range map[string]any{caFile: ca, serverCertFile: srv, serverKeyFile: srvKey,
		clientCertFile: cli, clientKeyFile: cliKey, otherCAFile: other, otherCertFile: otherCli, otherKeyFile: otherCliKey} {
		if err := writePEM(filepath.Join(dir, name), v); err != nil {
			return err
		}
	}
	return nil
}

// newCert makes a certificate signed by parent (self-signed when nil).
func newCert(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool, usage ...x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"tui tests"}},
		NotBefore:             now.Add(-certBackdatedBy),
		NotAfter:              now.Add(certValidFor),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           usage,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

func writePEM(path string, v any) error {
	var block *pem.Block
	switch v := v.(type) {
	case *x509.Certificate:
		block = &pem.Block{Type: "CERTIFICATE", Bytes: v.Raw}
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalPKCS8PrivateKey(v)
		if err != nil {
			return err
		}
		block = &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

func clientTLSConfig(ca, cert, key string) (*tls.Config, error) {
	pool := x509.NewCertPool()
	data, err := os.ReadFile(ca)
	if err != nil {
		return nil, err
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("no certificate in %s", ca)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Addr is host:port of the TLS port.
func (s *TLSServer) Addr() string { return s.node.addr() }

// URL is rediss://[:password@]127.0.0.1:P/0.
func (s *TLSServer) URL() string { return nodeURL("rediss", s.node.password, s.node.addr()) }

// CAFile is the PEM file of the CA that signed the server's and the
// client's certificates.
func (s *TLSServer) CAFile() string { return filepath.Join(s.dir, caFile) }

// ClientCertFile is the PEM client certificate the server trusts.
func (s *TLSServer) ClientCertFile() string { return filepath.Join(s.dir, clientCertFile) }

// ClientKeyFile is the client certificate's private key (PKCS #8 PEM).
func (s *TLSServer) ClientKeyFile() string { return filepath.Join(s.dir, clientKeyFile) }

// UntrustedCAFile is a CA unrelated to the server: a client that trusts
// only it must refuse the server's certificate.
func (s *TLSServer) UntrustedCAFile() string { return filepath.Join(s.dir, otherCAFile) }

// UntrustedClientCertFile and UntrustedClientKeyFile are a client
// certificate signed by the unrelated CA, which the server must refuse.
func (s *TLSServer) UntrustedClientCertFile() string { return filepath.Join(s.dir, otherCertFile) }

// UntrustedClientKeyFile is the key of UntrustedClientCertFile.
func (s *TLSServer) UntrustedClientKeyFile() string { return filepath.Join(s.dir, otherKeyFile) }

// TLSConfig is a client configuration that trusts the CA and presents the
// client certificate: what a correctly configured client uses.
func (s *TLSServer) TLSConfig() *tls.Config { return s.node.tls.Clone() }

// Do runs one command over TLS with the client certificate and returns
// its reply as redis-cli --raw prints it.
func (s *TLSServer) Do(args ...string) (string, error) {
	return doText(s.node.addr(), s.node.tls, s.node.password, args...)
}

// FlushAll empties the server.
func (s *TLSServer) FlushAll() {
	s.t.Helper()
	if _, err := s.node.do("FLUSHALL"); err != nil {
		s.t.Fatalf("FLUSHALL on %s: %v", s.node.addr(), err)
	}
}

// Restart kills the server (SIGKILL) and starts it again on the same port
// with the same certificates, empty.
func (s *TLSServer) Restart() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.node.kill()
	if err := s.node.start(); err != nil {
		s.t.Fatalf("restart: %v", err)
	}
}

// Stop kills the server and removes its directory and certificates.
func (s *TLSServer) Stop() { s.stop() }

func (s *tlsServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.node != nil {
		s.node.kill()
	}
	s.stopped = true
	_ = os.RemoveAll(s.dir)
}

func (s *tlsServer) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}
