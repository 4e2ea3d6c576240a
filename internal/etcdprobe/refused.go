package etcdprobe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrRefused: every etcd endpoint actively refused the connection (nothing
// listens there).
var ErrRefused = errors.New("etcdprobe: connection refused")

// Refused dials each TCP endpoint once (for at most a second) and
// returns an error wrapping ErrRefused, naming the endpoints, when every one
// of them refused the connection: that is known at once, where etcd's
// client would wait out its whole dial timeout and then say only "context
// deadline exceeded". Any other outcome (one answers, one times out, a
// unix:// endpoint) returns nil and leaves the verdict to the real request.
func Refused(ctx context.Context, endpoints []string) error {
	if len(endpoints) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex // guards refused
		refused int
	)
	for _, ep := range endpoints {
		addr, ok := tcpAddr(ep)
		if !ok {
			return nil
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", addr)
			if err == nil {
				c.Close()
				return
			}
			if errors.Is(err, syscall.ECONNREFUSED) {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if refused < len(endpoints) {
		return nil
	}
	return refusedError{endpoints: endpoints}
}

// refusedError names the endpoints once, for a person; errors.Is matches
// ErrRefused.
type refusedError struct{ endpoints []string }

func (e refusedError) Error() string {
	return fmt.Sprintf("etcd at %s: connection refused (nothing listens there; check etcd.endpoints / --etcd-endpoints and that etcd runs)",
		strings.Join(e.endpoints, ","))
}

func (e refusedError) Is(target error) bool { return target == ErrRefused }

// tcpAddr is the host:port an endpoint dials, if it dials TCP.
func tcpAddr(ep string) (string, bool) {
	scheme, rest, ok := strings.Cut(ep, "://")
	if !ok {
		return ep, true
	}
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	host, _, _ := strings.Cut(rest, "/")
	return host, host != ""
}
