package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gfsha/master/internal/config"
	"github.com/gfsha/master/internal/tlsconfig/tlstest"
)

// serve accepts TLS handshakes with c until the test ends.
func serveTLS(t *testing.T, c *tls.Config) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", c)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	return l.Addr().String()
}

// servedName is the common name of the certificate addr serves.
func servedName(t *testing.T, addr string, ca *tlstest.CA) string {
	t.Helper()
	pem, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func copyPair(t *testing.T, from, to tlstest.Pair, at time.Time) {
	t.Helper()
	for _, f := range [][2]string{{from.Key, to.Key}, {from.Cert, to.Cert}} {
		b, err := os.ReadFile(f[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f[1], b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(f[1], at, at); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCertificatesReloaded: the RPC and the HTTP listeners serve a renewed
// certificate from the next handshake on; a broken renewal keeps the
// previous one in service.
func TestCertificatesReloaded(t *testing.T) {
	old := reloadEvery
	reloadEvery = 0
	t.Cleanup(func() { reloadEvery = old })
	ca := tlstest.NewCA(t, t.TempDir(), "ca")
	live := ca.Server(t, "first")
	second := ca.Server(t, "second")

	rpc, err := Server(config.RPCTLS{Cert: live.Cert, Key: live.Key})
	if err != nil {
		t.Fatal(err)
	}
	web, err := HTTPServer(config.HTTPTLS{RPCKeys: true}, config.RPCTLS{Cert: live.Cert, Key: live.Key})
	if err != nil || web == nil {
		t.Fatalf("HTTPServer = %v, %v", web, err)
	}
	for name, c := range map[string]*tls.Config{"rpc": rpc, "http": web} {
		addr := serveTLS(t, c)
		if got := servedName(t, addr, ca); got != "first" {
			t.Fatalf("%s serves %q; want first", name, got)
		}
	}
	copyPair(t, second, live, time.Now().Add(time.Hour))
	for name, c := range map[string]*tls.Config{"rpc": rpc, "http": web} {
		if got := servedName(t, serveTLS(t, c), ca); got != "second" {
			t.Errorf("%s serves %q after the files changed; want second", name, got)
		}
	}
	// A half-written renewal: the key no longer matches. The last good
	// pair stays in service.
	if err := os.WriteFile(live.Key, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(live.Key, time.Now().Add(2*time.Hour), time.Now().Add(2*time.Hour))
	if got := servedName(t, serveTLS(t, rpc), ca); got != "second" {
		t.Errorf("rpc serves %q after a broken renewal; want second still", got)
	}
}

func TestHTTPServerPlaintextByDefault(t *testing.T) {
	c, err := HTTPServer(config.HTTPTLS{}, config.RPCTLS{})
	if c != nil || err != nil {
		t.Errorf("HTTPServer(unset) = %v, %v; want nil, nil (plaintext)", c, err)
	}
}
