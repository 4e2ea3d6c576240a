package rpcserver

import (
	"context"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/internal/meta"
)

// fakeProposer blocks each Propose until release is closed and records the
// most proposals it saw at once.
type fakeProposer struct {
	release chan struct{}

	mu        sync.Mutex
	now, most int
	calls     int
}

func (f *fakeProposer) Propose(ctx context.Context, op meta.Op) (meta.Result, error) {
	f.mu.Lock()
	f.now++
	f.calls++
	f.most = max(f.most, f.now)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.now--; f.mu.Unlock() }()
	select {
	case <-f.release:
		return meta.Result{}, nil
	case <-ctx.Done():
		return meta.Result{}, ctx.Err()
	}
}

func (f *fakeProposer) AppliedIndex() uint64 { return 1 }

func (f *fakeProposer) current() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func batchOf(n int) *masterpb.BatchRequest {
	r := &masterpb.BatchRequest{}
	for range n {
		r.Mutations = append(r.Mutations, &masterpb.Mutation{Type: masterpb.Mutation_CREATE, Path: "/f"})
	}
	return r
}

// TestBatchBoundsConcurrentProposals: however many mutations and calls
// arrive, at most the server's limit are proposed at once (so at most that
// many goroutines are spent on them).
func TestBatchBoundsConcurrentProposals(t *testing.T) {
	f := &fakeProposer{release: make(chan struct{})}
	s := newServer(nil, f, 4, 30*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	results := make(chan *masterpb.BatchResponse, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.Batch(ctx, batchOf(50))
			if err != nil {
				t.Error(err)
			}
			results <- r
		}()
	}
	for f.current() < 4 {
		select {
		case <-ctx.Done():
			t.Fatal("proposals never reached the limit")
		case <-time.After(time.Millisecond):
		}
	}
	close(f.release)
	wg.Wait()
	close(results)
	for r := range results {
		for i, m := range r.GetResults() {
			if m.Code != 0 {
				t.Errorf("result %d = %d %s; want OK", i, m.Code, m.Message)
			}
		}
	}
	if f.most != 4 || f.calls != 150 {
		t.Errorf("most at once = %d, calls = %d; want 4, 150", f.most, f.calls)
	}
}

// TestBusyIsResourceExhausted: with every slot taken for longer than the
// wait, mutations are refused with RESOURCE_EXHAUSTED and never proposed.
func TestBusyIsResourceExhausted(t *testing.T) {
	f := &fakeProposer{release: make(chan struct{})}
	close(f.release)
	s := newServer(nil, f, 2, 10*time.Millisecond)
	s.slots <- struct{}{}
	s.slots <- struct{}{}
	r, err := s.Batch(t.Context(), batchOf(3))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range r.Results {
		if codes.Code(m.Code) != codes.ResourceExhausted {
			t.Errorf("result %d = %v %s; want ResourceExhausted", i, codes.Code(m.Code), m.Message)
		}
	}
	if _, err := s.Create(t.Context(), &masterpb.PathRequest{Path: "/g"}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("Create = %v; want ResourceExhausted", err)
	}
	if f.calls != 0 {
		t.Errorf("%d proposals made; want none", f.calls)
	}
	<-s.slots
	<-s.slots
	if _, err := s.Create(t.Context(), &masterpb.PathRequest{Path: "/g"}); err != nil {
		t.Errorf("Create with free slots = %v", err)
	}
}
