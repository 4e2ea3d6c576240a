package client_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

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
