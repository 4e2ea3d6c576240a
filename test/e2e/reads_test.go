package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gfsha/master/client"
)

// TestReadsNeverStop: three masters; clients read (linearizable, from any
// member) without pause while the primary is killed with -9, and then while
// the next primary is paused with SIGSTOP past its lease. Every read sent
// between the fault and the new primary serving must succeed (from a
// shadow), and see every file acknowledged before it; the fraction of
// reads answered during each failover is reported.
func TestReadsNeverStop(t *testing.T) {
	c := startCluster(t, "n1", "n2", "n3")
	cl := c.NewClient()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if err := cl.Mkdir(ctx, "/r"); err != nil {
		t.Fatal(err)
	}
	var files []string
	for i := range 10 {
		p := fmt.Sprintf("/r/f%d", i)
		if err := cl.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	// Every member known to the client, so reads can move on at once.
	if err := poll(ctx, 30*time.Second, func() bool { return len(cl.Members()) == 3 }); err != nil {
		t.Fatalf("client saw members %v; want 3", cl.Members())
	}

	for _, fault := range []struct {
		name   string
		inject func(m *Master)
		heal   func(m *Master)
	}{
		{"kill -9", func(m *Master) { m.Kill(t) }, func(m *Master) { c.StartMaster(m) }},
		{"SIGSTOP", func(m *Master) { m.Stop(t) }, func(m *Master) { m.Cont(t) }},
	} {
		old := c.Master(c.CtlStatus().Primary)
		var sent, answered atomic.Int64
		var mu sync.Mutex
		var failures []string
		type readRec struct {
			began time.Time
			ok    bool
		}
		var recs []readRec
		var slowest time.Duration
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					p := files[(w+i)%len(files)]
					rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
					began := time.Now()
					sent.Add(1)
					_, info, err := cl.StatInfo(client.WithRead(rctx, client.ReadConfig{Consistency: "linearizable", From: "any"}), p)
					took := time.Since(began)
					rcancel()
					mu.Lock()
					recs = append(recs, readRec{began, err == nil && info.ServedBy != ""})
					slowest = max(slowest, took)
					if err != nil {
						failures = append(failures, fmt.Sprintf("stat %s: %v", p, err))
					} else if info.ServedBy == "" {
						failures = append(failures, fmt.Sprintf("stat %s: no served_by", p))
					} else {
						answered.Add(1)
					}
					mu.Unlock()
				}
			}()
		}
		// Reads run before the fault too.
		if err := poll(ctx, 30*time.Second, func() bool { return answered.Load() >= 20 }); err != nil {
			t.Fatalf("reads before the fault: %d answered of %d", answered.Load(), sent.Load())
		}
		injected := time.Now()
		fault.inject(old)
		next := c.WaitPrimary(60*time.Second, old.ID)
		serving := time.Since(injected)
		close(stop)
		wg.Wait()
		mu.Lock()
		var sentDuring, answeredDuring int
		for _, r := range recs {
			if r.began.After(injected) && r.began.Before(injected.Add(serving)) {
				sentDuring++
				if r.ok {
					answeredDuring++
				}
			}
		}
		if len(failures) > 0 {
			t.Errorf("%s of %s: %d reads failed, first: %s", fault.name, old.ID, len(failures), failures[0])
		}
		t.Logf("%s of %s: %s serving after %v; reads sent meanwhile %d, answered %d (%.1f %%); slowest read %v",
			fault.name, old.ID, next.ID, serving.Round(time.Millisecond), sentDuring, answeredDuring,
			100*float64(answeredDuring)/float64(max(sentDuring, 1)), slowest.Round(time.Millisecond))
		mu.Unlock()
		if sentDuring == 0 {
			t.Errorf("%s: no read was sent during the failover", fault.name)
		}
		fault.heal(old)
		// The new primary's writes are seen by linearizable reads wherever
		// they are served.
		p := fmt.Sprintf("/r/after-%s", old.ID)
		if err := cl.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
		for range 6 {
			if _, err := cl.Stat(ctx, p); err != nil {
				t.Fatalf("stat %s after it was acknowledged: %v", p, err)
			}
		}
	}
}

// TestCtlReadFlags: ctl stat and ls print who answered and from which
// index, honour --read-from, and reject a bad --read-consistency as bad
// configuration.
func TestCtlReadFlags(t *testing.T) {
	c := startCluster(t, "n1", "n2")
	if r := c.Ctl("mkdir", "/d"); r.Code != 0 {
		t.Fatalf("ctl mkdir /d: %s", r)
	}
	primary := c.CtlStatus().Primary
	for _, from := range []string{"shadow", "primary"} {
		r := c.Ctl("stat", "/d", "-o", "json", "--read-from", from)
		var st struct {
			Path         string `json:"path"`
			ServedBy     string `json:"served_by"`
			AppliedIndex uint64 `json:"applied_index"`
		}
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &st) != nil {
			t.Fatalf("ctl stat /d -o json --read-from %s: %s", from, r)
		}
		if st.Path != "/d" || st.AppliedIndex == 0 || (from == "shadow") == (st.ServedBy == primary) || st.ServedBy == "" {
			t.Errorf("ctl stat /d --read-from %s = %s; want served_by %s the primary %s and an applied_index", from, r.Stdout,
				map[bool]string{true: "not", false: "equal to"}[from == "shadow"], primary)
		}
	}
	r := c.Ctl("ls", "/", "-o", "json", "--read-consistency", "session")
	var ls struct {
		ServedBy     string `json:"served_by"`
		AppliedIndex uint64 `json:"applied_index"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &ls) != nil || ls.ServedBy == "" {
		t.Errorf("ctl ls / -o json --read-consistency session: %s; want served_by", r)
	}
	if r := c.Ctl("ls", "/", "--read-consistency", "sometimes"); r.Code != 2 || !strings.Contains(r.Stderr, "read.consistency") {
		t.Errorf("ctl ls --read-consistency sometimes: %s; want exit 2 naming read.consistency", r)
	}
}
