package walship

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gfsha/master/internal/embedetcd"
	"github.com/gfsha/master/internal/fencing"
)

func TestTrim(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	l := lead(t, c)
	sm := &recorder{}
	a := newAppender(t, c, l, sm, func(cfg *AppenderConfig) { cfg.MaxBatchBytes = 256 })
	for i := range 100 {
		if _, err := a.Append(t.Context(), []byte(fmt.Sprintf("r%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	guard := fencing.Guard(l.Key(), l.Token())
	first, rev, err := Trim(t.Context(), c, keys, guard, 50)
	if err != nil || first == 0 || first > 51 || rev == 0 {
		t.Fatalf("Trim(50) = %d, %d, %v; want a first kept index <= 51", first, rev, err)
	}
	if got, _ := ReadFirst(t.Context(), c, keys); got != first {
		t.Fatalf("ReadFirst = %d; want %d", got, first)
	}
	r, _ := c.Get(t.Context(), keys.BatchPrefix(), clientv3.WithPrefix())
	for _, kv := range r.Kvs {
		b, err := decodeBatch(kv.Value)
		if err != nil {
			t.Fatal(err)
		}
		if b.First < first {
			t.Errorf("batch %d..%d below the first kept index %d survived", b.First, b.Last(), first)
		}
	}

	// A reader starting from nothing is told to load a checkpoint.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := NewTailer(c, keys, &recorder{}).Run(ctx); !errors.Is(err, ErrTrimmed) {
		t.Fatalf("tailer from 0 after trim = %v; want ErrTrimmed", err)
	}
	// A reader restored at 60 (a checkpoint) replays the rest.
	fromCkpt := &recorder{base: 60}
	tailAll(t, c, fromCkpt, 100)
	if got := fromCkpt.data(); len(got) != 40 || got[0] != "r060" {
		t.Fatalf("replay from 60 = %v", got)
	}

	// Only the leader trims.
	if _, err := c.Revoke(t.Context(), l.Session().LeaseID()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Trim(t.Context(), c, keys, guard, 90); !errors.Is(err, ErrDeposed) {
		t.Fatalf("Trim by a deposed leader = %v; want ErrDeposed", err)
	}
}

// A bound below the log's start (a new primary that never trimmed, a member
// publishing an old checkpoint) returns the first index kept, never 0: a
// caller storing first-1 must not wrap around and stop trimming for good.
func TestTrimBelowTheLogStartReturnsItsFirstIndex(t *testing.T) {
	srv := embedetcd.StartT(t)
	c := embedetcd.ClientT(t, srv)
	l := lead(t, c)
	a := newAppender(t, c, l, &recorder{}, func(cfg *AppenderConfig) { cfg.MaxBatchBytes = 256 })
	for i := range 100 {
		if _, err := a.Append(t.Context(), []byte(fmt.Sprintf("r%03d", i))); err != nil {
			t.Fatal(err)
		}
	}
	guard := fencing.Guard(l.Key(), l.Token())
	first, _, err := Trim(t.Context(), c, keys, guard, 60)
	if err != nil || first < 2 {
		t.Fatalf("Trim(60) = %d, %v", first, err)
	}
	for _, upTo := range []uint64{0, 1, first / 2, first - 2} {
		got, rev, err := Trim(t.Context(), c, keys, guard, upTo)
		if err != nil || got != first || rev != 0 {
			t.Errorf("Trim(%d) after trimming below %d = %d, %d, %v; want %d, 0, nil", upTo, first, got, rev, err, first)
		}
	}
	if got, _ := ReadFirst(t.Context(), c, keys); got != first {
		t.Fatalf("ReadFirst = %d; want %d", got, first)
	}
}
