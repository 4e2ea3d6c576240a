package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/internal/config"
)

// TestTLSAndAuth runs the system against an etcd that speaks only TLS,
// requires client certificates and has authentication on, with masters
// whose RPC requires client certificates too. The client package and ctl,
// configured for TLS, work throughout (writes, status, ls, checkpoint, a
// third master joining by fetching a peer's checkpoint over TLS, a
// failover); a client without a certificate, or in plaintext, is refused in
// the handshake; a wrong etcd password is refused, logged clearly and
// retried; and no password ever appears in a log or in ctl's output.
func TestTLSAndAuth(t *testing.T) {
	c := newCluster(t)
	s := startSecureEtcd(c)
	n1, n2 := s.addMaster("n1"), s.addMaster("n2")
	first := c.WaitPrimary(30*time.Second, "")
	t.Logf("%s serves over TLS with etcd authentication", first.ID)

	// The client package, with a client certificate.
	withCert := config.RPCTLS{CA: s.CA.CertFile, ClientCert: s.Client.Cert, ClientKey: s.Client.Key}
	cl := s.newClient(withCert)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := cl.Mkdir(ctx, "/tls"); err != nil {
		t.Fatalf("Mkdir over TLS: %v", err)
	}
	for i := range 10 {
		if err := cl.Create(ctx, fmt.Sprintf("/tls/f%d", i)); err != nil {
			t.Fatalf("Create over TLS: %v", err)
		}
	}

	// ctl with TLS flags: etcd (status) and the masters' RPC (create, ls).
	var outputs []cmdResult
	ctlOK := func(args ...string) cmdResult {
		t.Helper()
		r := s.ctl(s.Password, true, args...)
		outputs = append(outputs, r)
		if r.Code != 0 {
			t.Fatalf("ctl %s: %s", strings.Join(args, " "), r)
		}
		return r
	}
	var st ctlStatus
	if r := ctlOK("status", "-o", "json"); json.Unmarshal([]byte(r.Stdout), &st) != nil || st.Primary != first.ID || len(st.Members) != 2 {
		t.Fatalf("ctl status -o json = %s; want primary %s and 2 members", r.Stdout, first.ID)
	}
	ctlOK("create", "/tls/by-ctl")
	var ls struct {
		Entries []struct{ Name string } `json:"entries"`
	}
	if r := ctlOK("ls", "/tls", "-o", "json"); json.Unmarshal([]byte(r.Stdout), &ls) != nil || len(ls.Entries) != 11 {
		t.Fatalf("ctl ls /tls -o json = %s; want 11 entries", r.Stdout)
	}

	// A checkpoint (ctl dials every member) and a trim; a third master with
	// nothing on disk must then fetch a peer's checkpoint, master to master
	// over TLS with its own certificate.
	var cp struct {
		FirstIndex uint64 `json:"first_index"`
	}
	if r := ctlOK("checkpoint", "-o", "json"); json.Unmarshal([]byte(r.Stdout), &cp) != nil || cp.FirstIndex <= 1 {
		t.Fatalf("ctl checkpoint -o json = %s; want the log trimmed (first_index above 1)", r.Stdout)
	}
	n3 := s.addMaster("n3")
	c.waitFor(30*time.Second, "n3 to fetch a checkpoint from a peer", func() bool {
		return strings.Contains(serverLog(n3.Process), "checkpoint fetched and loaded")
	})
	c.WaitRole(n3, "standby", 30*time.Second)

	// Refused: no client certificate, or no TLS at all.
	refused := []struct {
		name string
		opt  grpc.DialOption
	}{
		{"TLS without a client certificate", grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: caPool(t, s.CA.CertFile)}))},
		{"plaintext", grpc.WithTransportCredentials(insecure.NewCredentials())},
	}
	for _, tt := range refused {
		cc, err := grpc.NewClient(first.RPC, tt.opt)
		if err != nil {
			t.Fatal(err)
		}
		sctx, scancel := context.WithTimeout(t.Context(), 5*time.Second)
		_, err = masterpb.NewMasterClient(cc).Status(sctx, &masterpb.StatusRequest{})
		scancel()
		cc.Close()
		if status.Code(err) != codes.Unavailable {
			t.Errorf("%s: Status on %s = %v; want codes.Unavailable (refused in the handshake)", tt.name, first.ID, err)
		} else {
			t.Logf("%s: refused: %v", tt.name, err)
		}
	}
	bare := s.newClient(config.RPCTLS{CA: s.CA.CertFile})
	bctx, bcancel := context.WithTimeout(t.Context(), 2*time.Second)
	if err := bare.Create(bctx, "/tls/no-cert"); err == nil {
		t.Errorf("client.Create without a client certificate succeeded")
	}
	bcancel()
	if r := s.ctl(s.Password, false, "ls", "/tls", "--timeout", "3s"); r.Code != 1 {
		t.Errorf("ctl ls without a client certificate: %s; want exit 1", r)
	} else {
		outputs = append(outputs, r)
	}

	// ctl failover over TLS; the client follows the new primary.
	var fo struct {
		FailedMaster string `json:"failed_master"`
		NewPrimary   string `json:"new_primary"`
	}
	if r := ctlOK("failover", "-o", "json"); json.Unmarshal([]byte(r.Stdout), &fo) != nil || fo.FailedMaster != first.ID || fo.NewPrimary == "" || fo.NewPrimary == first.ID {
		t.Fatalf("ctl failover -o json = %s; want %s replaced", r.Stdout, first.ID)
	}
	t.Logf("ctl failover: %s → %s", fo.FailedMaster, fo.NewPrimary)
	if err := cl.Create(ctx, "/tls/after-failover"); err != nil {
		t.Errorf("Create after the failover: %v", err)
	}
	if _, err := cl.Stat(ctx, "/tls/by-ctl"); err != nil {
		t.Errorf("Stat /tls/by-ctl after the failover: %v", err)
	}

	// A wrong etcd password: ctl says so and exits 1; serve logs it, clearly,
	// and keeps retrying.
	wrong := secret(t, "wrong")
	r := s.ctl(wrong, true, "status")
	if r.Code != 1 || !strings.Contains(r.Stderr, `"`+etcdUser+`"`) || !strings.Contains(r.Stderr, "etcd.password") {
		t.Errorf("ctl status with a wrong password: %s; want exit 1 naming the user and etcd.password", r)
	}
	outputs = append(outputs, r)
	bad := s.newMaster("bad", wrong)
	bad.Start(t)
	start := time.Now()
	c.waitFor(20*time.Second, "bad to log two refused authentications", func() bool {
		return strings.Count(serverLog(bad.Process), "etcd authentication failed; retrying") >= 2
	})
	if !bad.Running() {
		t.Errorf("bad exited on a wrong password; want it to keep retrying")
	}
	t.Logf("bad logged two refused authentications in %v", time.Since(start).Round(time.Millisecond))
	bad.Kill(t)

	// No secret anywhere.
	for _, p := range []*Process{n1.Process, n2.Process, n3.Process, bad.Process} {
		log := serverLog(p)
		for _, pw := range []string{s.Password, wrong} {
			if strings.Contains(log, pw) {
				t.Errorf("%s's log holds a password:\n%s", p.Name, log)
			}
		}
	}
	for _, r := range outputs {
		for _, pw := range []string{s.Password, wrong} {
			if strings.Contains(r.Stdout, pw) || strings.Contains(r.Stderr, pw) {
				t.Errorf("ctl output holds a password: %s", r)
			}
		}
	}
}

func caPool(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("%s: no PEM certificate", file)
	}
	return pool
}
