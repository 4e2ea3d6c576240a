package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/client"
)

// TestPausedPrimaryCannotWrite pauses the primary past its lease TTL, lets a
// standby take over and take writes, and then resumes the old primary with
// a create and a read already waiting in its socket. It must answer the
// create "not primary" and the read either with the new primary's writes
// or not at all (a linearizable read), report 503 on /primary from its first answer on, become a
// standby, and the create must not exist anywhere.
func TestPausedPrimaryCannotWrite(t *testing.T) {
	c := startCluster(t, "n1", "n2")
	cl := c.NewClient()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for _, p := range []string{"/p", "/p/before"} {
		op := cl.Create
		if p == "/p" {
			op = cl.Mkdir
		}
		if err := op(ctx, p); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
	}
	before := c.CtlStatus()
	old := c.Master(before.Primary)
	next := c.Other(old)
	oldRPC := old.rpc(t)
	// Connect to the old primary now: once it is paused, nothing can connect.
	if _, err := oldRPC.Status(ctx, &masterpb.StatusRequest{}); err != nil {
		t.Fatalf("%s Status: %v", old.ID, err)
	}

	paused := time.Now()
	old.Stop(t)
	c.WaitPrimary(30*time.Second, old.ID)
	t.Logf("%s paused; %s serving %v later", old.ID, next.ID, time.Since(paused).Round(time.Millisecond))
	after := c.CtlStatus()
	if after.Primary != next.ID || after.Token <= before.Token {
		t.Fatalf("ctl status: primary %q token %d; want %q with a token above %d", after.Primary, after.Token, next.ID, before.Token)
	}

	// Writes go on, on the new primary.
	var written []string
	for i := range 20 {
		p := fmt.Sprintf("/p/after-%d", i)
		if err := cl.Create(ctx, p); err != nil {
			t.Fatalf("create %s on the new primary: %v", p, err)
		}
		written = append(written, p)
	}

	// A create and a read wait in the paused process's socket, so that they
	// are among the first things it handles when it resumes.
	port := portOf(t, old.RPC)
	queued0 := queuedBytes(t, port)
	zombie := "/p/zombie"
	createErr := make(chan error, 1)
	go func() {
		_, err := oldRPC.Create(ctx, &masterpb.PathRequest{Path: zombie, ClientId: "e2e-zombie", Seq: 1})
		createErr <- err
	}()
	queued1 := waitQueued(t, port, queued0)
	// The read asks for a file acknowledged by the new primary: being
	// linearizable, it must find it or be refused, never answer from the
	// old primary's older state.
	statErr := make(chan error, 1)
	go func() {
		_, err := oldRPC.Stat(ctx, &masterpb.StatRequest{Path: written[len(written)-1]})
		statErr <- err
	}()
	waitQueued(t, port, queued1)

	resumed := time.Now()
	old.Cont(t)
	// From its first answer on, the old primary says it is not primary.
	var first time.Duration
	answers := 0
	err := poll(ctx, 30*time.Second, func() bool {
		ok, err := c.Serving(old)
		if err != nil {
			return false
		}
		answers++
		if first == 0 {
			first = time.Since(resumed)
		}
		if ok {
			t.Fatalf("%s answered /primary 200 %v after resuming; a master whose lease expired must not serve", old.ID, time.Since(resumed))
		}
		st, err := c.Status(old)
		return err == nil && st.Role == "standby"
	})
	if err != nil {
		t.Fatalf("%s did not become a standby after resuming: %v", old.ID, err)
	}
	if *timing && first > 2*time.Second {
		t.Errorf("%s first answered /primary %v after resuming; want promptly", old.ID, first)
	}
	t.Logf("%s: first /primary answer (503) %v after SIGCONT; standby after %d answers, %v",
		old.ID, first.Round(time.Microsecond), answers, time.Since(resumed).Round(time.Millisecond))

	select {
	case err := <-createErr:
		if !isNotPrimary(err) {
			t.Errorf("create %s sent to the paused %s, answered after it resumed: %v; want Unavailable (not primary)", zombie, old.ID, err)
		}
	case <-ctx.Done():
		t.Fatalf("create %s sent to the paused %s: no answer: %v", zombie, old.ID, ctx.Err())
	}
	select {
	case err := <-statErr:
		if err != nil && status.Code(err) != codes.Unavailable {
			t.Errorf("stat %s sent to the paused %s, answered after it resumed: %v; want the file, or Unavailable", written[len(written)-1], old.ID, err)
		}
		t.Logf("linearizable stat waiting in the paused %s's socket: %v", old.ID, err)
	case <-ctx.Done():
		t.Fatalf("stat sent to the paused %s: no answer: %v", old.ID, ctx.Err())
	}
	if _, err := oldRPC.Create(ctx, &masterpb.PathRequest{Path: zombie, ClientId: "e2e-zombie", Seq: 2}); !isNotPrimary(err) {
		t.Errorf("create %s on the resumed %s: %v; want Unavailable (not primary)", zombie, old.ID, err)
	}

	// Nothing the old primary was asked after its lease expired exists.
	if _, err := cl.Stat(ctx, zombie); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("stat %s on the new primary: %v; want %v", zombie, err, client.ErrNotFound)
	}
	for _, p := range append(written, "/p/before") {
		if _, err := cl.Stat(ctx, p); err != nil {
			t.Errorf("stat %s (acknowledged) on the new primary: %v", p, err)
		}
	}
	idx := c.WaitSameDigest(old, next, 30*time.Second)
	t.Logf("digests of %s and %s equal at index %d", old.ID, next.ID, idx)
}

// isNotPrimary reports whether err is the master's own "not primary" answer,
// not a transport failure (which gRPC also reports as Unavailable).
func isNotPrimary(err error) bool {
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.Unavailable && strings.Contains(s.Message(), "not primary")
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// queuedBytes is how many bytes wait unread in the receive queues of the
// established IPv4 connections to local port, from /proc/net/tcp; -1 where
// that file is unavailable.
func queuedBytes(t *testing.T, port int) int {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return -1
	}
	defer f.Close()
	total := 0
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue ...
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 || fs[3] != "01" {
			continue
		}
		_, lp, ok := strings.Cut(fs[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseInt(lp, 16, 32); err != nil || int(p) != port {
			continue
		}
		_, rx, ok := strings.Cut(fs[4], ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(rx, 16, 64); err == nil {
			total += int(n)
		}
	}
	return total
}

// waitQueued waits until more than was bytes wait for the paused process on
// port, and returns how many. Without /proc/net/tcp it cannot tell, and
// returns at once.
func waitQueued(t *testing.T, port, was int) int {
	t.Helper()
	if was < 0 {
		t.Log("no /proc/net/tcp: cannot confirm that the request reached the paused process's socket")
		return -1
	}
	n := was
	err := poll(t.Context(), 30*time.Second, func() bool {
		n = queuedBytes(t, port)
		return n > was
	})
	if err != nil {
		t.Fatalf("request to the paused process never reached its socket (port %d, %d bytes queued): %v", port, n, err)
	}
	return n
}
