package election

import (
	"context"
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/embedetcd"
)

const prefix = "/test/election"

func newSession(t *testing.T, c *clientv3.Client, ttl time.Duration) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s, err := NewSession(ctx, c, ttl)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func campaign(t *testing.T, s *Session, val string) *Leadership {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	l, err := Campaign(ctx, s, prefix, []byte(val))
	if err != nil {
		t.Fatalf("Campaign(%s): %v", val, err)
	}
	return l
}

func waitDone(t *testing.T, ctx context.Context, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case <-ctx.Done():
		return time.Since(start)
	case <-time.After(within):
		t.Fatalf("leadership context not cancelled within %v", within)
		return 0
	}
}

func TestRevokeEndsLeadershipAndNextWins(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	// A 60 s TTL: keepalives every 20 s, so only the watch can notice the
	// revoke within the 15 s allowed below (a bound a loaded machine meets).
	s1 := newSession(t, c, 60*time.Second)
	s2 := newSession(t, c, 60*time.Second)

	l1 := campaign(t, s1, "n1")
	if got, want := int64(l1.Token()), int64(0); got <= want {
		t.Fatalf("token = %d; want > 0", got)
	}
	r, err := c.Get(t.Context(), l1.Key())
	if err != nil || len(r.Kvs) != 1 || r.Kvs[0].CreateRevision != int64(l1.Token()) {
		t.Fatalf("leader key %s: %v %v; want create revision %d", l1.Key(), r, err, l1.Token())
	}
	if !l1.Valid() {
		t.Fatal("fresh leadership is not Valid")
	}

	won := make(chan *Leadership, 1)
	go func() {
		l, err := Campaign(t.Context(), s2, prefix, []byte("n2"))
		if err != nil {
			t.Errorf("second Campaign: %v", err)
		}
		won <- l
	}()
	select {
	case <-won:
		t.Fatal("second candidate won while the first leads")
	case <-time.After(200 * time.Millisecond):
		// a negative check: nothing to wait for but time
	}

	if _, err := c.Revoke(t.Context(), s1.LeaseID()); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	// A revoke must be noticed through the watch, long before a keepalive.
	took := waitDone(t, l1.Context(), 15*time.Second)
	if !errors.Is(context.Cause(l1.Context()), ErrLeadershipLost) {
		t.Errorf("cause = %v; want ErrLeadershipLost", context.Cause(l1.Context()))
	}
	t.Logf("revoke noticed after %v", took)
	if l1.Valid() {
		t.Error("revoked leadership still Valid")
	}

	select {
	case l2 := <-won:
		if l2 == nil {
			t.Fatal("no second leadership")
		}
		if l2.Token() <= l1.Token() {
			t.Errorf("new token %d <= old token %d; tokens must grow", l2.Token(), l1.Token())
		}
		cur, err := CurrentLeader(t.Context(), c, prefix)
		if err != nil || string(cur.Value) != "n2" || cur.Token != l2.Token() {
			t.Errorf("CurrentLeader = %+v, %v; want n2 with token %d", cur, err, l2.Token())
		}
		l2.Release()
	case <-time.After(30 * time.Second):
		t.Fatal("second candidate did not win after revoke")
	}
}

func TestCampaignReturnsWhenSessionExpires(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	s1 := newSession(t, c, 10*time.Second)
	l1 := campaign(t, s1, "n1")
	defer l1.Release()

	s2 := newSession(t, c, 10*time.Second)
	errc := make(chan error, 1)
	go func() {
		_, err := Campaign(t.Context(), s2, prefix, []byte("n2"))
		errc <- err
	}()
	// Once the candidate waits, kill its lease: etcd issue 19597 would hang here.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		r, err := c.Get(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		if r.Count == 2 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("second candidate never registered")
		case <-time.After(time.Millisecond):
		}
	}
	if _, err := c.Revoke(t.Context(), s2.LeaseID()); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrSessionExpired) {
			t.Fatalf("Campaign = %v; want ErrSessionExpired", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Campaign did not return after its session expired")
	}
}

func TestResignHandsOver(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	s1 := newSession(t, c, 10*time.Second)
	s2 := newSession(t, c, 10*time.Second)
	l1 := campaign(t, s1, "n1")
	won := make(chan *Leadership, 1)
	go func() {
		l, _ := Campaign(t.Context(), s2, prefix, []byte("n2"))
		won <- l
	}()
	if err := l1.Resign(t.Context()); err != nil {
		t.Fatalf("Resign: %v", err)
	}
	if !errors.Is(context.Cause(l1.Context()), ErrResigned) {
		t.Errorf("cause = %v; want ErrResigned", context.Cause(l1.Context()))
	}
	select {
	case l2 := <-won:
		if l2 == nil {
			t.Fatal("second Campaign failed")
		}
		l2.Release()
	case <-time.After(10 * time.Second):
		t.Fatal("no hand-over after Resign")
	}
}

func TestLeaseValidityRunsOutWithoutRenewal(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	s := newSession(t, c, 10*time.Second)
	now := time.Now()
	s.now = func() time.Time { return now }
	if !s.LeaseValid() {
		t.Fatal("fresh lease not valid")
	}
	// Jump past the TTL as a process resumed from SIGSTOP would see it.
	now = now.Add(11 * time.Second)
	if s.LeaseValid() {
		t.Fatal("lease still valid 11s after its last renewal with a 10s TTL")
	}
}

func TestObserveFollowsLeader(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	obs := Observe(ctx, c, prefix)
	next := func() Leader {
		select {
		case l := <-obs:
			return l
		case <-ctx.Done():
			t.Fatal("Observe sent nothing")
			return Leader{}
		}
	}
	if l := next(); l.Key != "" {
		t.Fatalf("first observation = %+v; want no leader", l)
	}
	s1 := newSession(t, c, 10*time.Second)
	l1 := campaign(t, s1, "n1")
	if l := next(); string(l.Value) != "n1" || l.Token != l1.Token() {
		t.Fatalf("observed %+v; want n1 with token %d", l, l1.Token())
	}
	l1.Resign(ctx)
	if l := next(); l.Key != "" {
		t.Fatalf("after resign observed %+v; want no leader", l)
	}
}
