package client_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/gfsha/master/api/masterpb"
	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/devcluster"
)

// TestDeadlineMidAttemptIsUnknown: a mutation whose own deadline ends while
// its attempt is at the master may have been applied; the error must say so
// (ErrUnknownResult) as well as why (DeadlineExceeded). One whose deadline
// ends before anything was sent is a plain deadline error.
func TestDeadlineMidAttemptIsUnknown(t *testing.T) {
	dc := devcluster.StartT(t, 1)
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	// Once holding, Batch calls reach the master and are applied; their
	// answers are held back until the attempt ends.
	var holding atomic.Bool
	hold := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if method == masterpb.Master_Batch_FullMethodName && err == nil && holding.Load() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-stall:
			}
		}
		return err
	})
	c, err := client.New(t.Context(), client.Config{Endpoints: []string{dc.Etcd.Endpoint()}, Cluster: "test",
		DialOptions: []grpc.DialOption{hold}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// A first mutation registers the session, so the short deadline below
	// falls on the next mutation's attempt.
	if err := c.Mkdir(ctx, "/warm"); err != nil {
		t.Fatal(err)
	}
	holding.Store(true)
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	err = c.Mkdir(short, "/d")
	if !errors.Is(err, client.ErrUnknownResult) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Mkdir with its deadline mid-attempt = %v; want ErrUnknownResult and DeadlineExceeded", err)
	}
	// It was in fact applied: "unknown" was the honest answer.
	if _, err := c.Stat(ctx, "/d"); err != nil {
		t.Errorf("Stat(/d) = %v; want the mkdir applied", err)
	}

	done, cancelDone := context.WithCancel(ctx)
	cancelDone()
	err = c.Mkdir(done, "/e")
	if !errors.Is(err, context.Canceled) || errors.Is(err, client.ErrUnknownResult) {
		t.Errorf("Mkdir with its context already ended = %v; want Canceled, not unknown (nothing was sent)", err)
	}
}

// TestExpiredSession: a session the master no longer knows costs a first
// attempt nothing (the client moves to a new session and the call
// succeeds), but a retry whose earlier attempt may have run fails with
// ErrUnknownResult instead of running again.
func TestExpiredSession(t *testing.T) {
	dc := devcluster.StartT(t, 1)
	const (
		normal         = iota
		unknownSession // the next Batch call names a session the master never registered
		loseAnswer     // the next Batch call is applied, its answer lost; then unknownSession
	)
	var mode atomic.Int32
	tamper := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method != masterpb.Master_Batch_FullMethodName {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		switch mode.Load() {
		case unknownSession:
			mode.Store(normal)
			r := proto.Clone(req.(*masterpb.BatchRequest)).(*masterpb.BatchRequest)
			for _, m := range r.Mutations {
				m.Session = 1 << 60
			}
			return invoker(ctx, method, r, reply, cc, opts...)
		case loseAnswer:
			mode.Store(unknownSession)
			if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
				return err
			}
			return status.Error(codes.Aborted, "test: answer lost")
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	c, err := client.New(t.Context(), client.Config{Endpoints: []string{dc.Etcd.Endpoint()}, Cluster: "test",
		DialOptions: []grpc.DialOption{tamper}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := c.Mkdir(ctx, "/warm"); err != nil {
		t.Fatal(err)
	}

	mode.Store(unknownSession)
	if err := c.Mkdir(ctx, "/a"); err != nil {
		t.Errorf("Mkdir whose first attempt met an unknown session = %v; want success under a new session", err)
	}
	if _, err := c.Stat(ctx, "/a"); err != nil {
		t.Errorf("Stat(/a) = %v", err)
	}

	mode.Store(loseAnswer)
	err = c.Mkdir(ctx, "/b")
	if !errors.Is(err, client.ErrUnknownResult) || errors.Is(err, client.ErrExists) {
		t.Errorf("retry under an unknown session = %v; want ErrUnknownResult (never run again, never \"exists\")", err)
	}
	if _, err := c.Stat(ctx, "/b"); err != nil {
		t.Errorf("Stat(/b) = %v; want the first attempt applied", err)
	}
	// The client goes on under a new session.
	if err := c.Mkdir(ctx, "/c"); err != nil {
		t.Errorf("Mkdir after an unknown outcome = %v", err)
	}
}
