package election

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"time"
)

// DialFunc opens a TCP connection (net.Dialer.DialContext in production;
// tests inject refusals and timeouts).
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Refused reports whether err is evidence that nothing listens at an
// address whose host answers: connection refused or reset. A timeout, an
// unreachable network or any other error is not: a paused process or a
// partitioned host looks like that, and only the lease may decide then.
func Refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}

// CrashWatch watches one address for a crashed process: it keeps one idle
// TCP connection to it (the process's death closes it at once), and while
// it has none it probes by dialing.
type CrashWatch struct {
	Addr string
	Dial DialFunc // nil: a net.Dialer
	// Wait returns how long refusals must last, asked once when a streak
	// of refusals begins (the node ranks its standbys there).
	Wait func(ctx context.Context) time.Duration
	// Probe is the interval between dials while refused (default 20 ms).
	Probe time.Duration
	// DialTimeout bounds one dial (default 1 s); its expiry is no evidence.
	DialTimeout time.Duration
}

// Run returns once Addr has actively refused every connection attempt for
// Wait, with since: when the evidence began (the idle connection breaking,
// or the first refused dial), on the monotonic clock. It returns ctx's
// error when ctx ends first. Any accepted connection or any other outcome
// of a dial (a timeout included) ends the streak.
func (w CrashWatch) Run(ctx context.Context) (since time.Time, err error) {
	dial := w.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	probe := w.Probe
	if probe <= 0 {
		probe = 20 * time.Millisecond
	}
	dialTimeout := w.DialTimeout
	if dialTimeout <= 0 {
		dialTimeout = time.Second
	}
	var (
		streak  time.Time     // first refusal of the current streak; zero: none
		need    time.Duration // Wait() for the current streak
		brokeAt time.Time     // when the idle connection last broke
		backoff = probe
	)
	for {
		if err := ctx.Err(); err != nil {
			return time.Time{}, err
		}
		dctx, cancel := context.WithTimeout(ctx, dialTimeout)
		c, err := dial(dctx, "tcp", w.Addr)
		cancel()
		now := time.Now()
		switch {
		case err == nil:
			streak, backoff = time.Time{}, probe
			brokeAt = holdIdle(ctx, c)
			continue // probe at once: the break is the moment to look
		case ctx.Err() != nil:
			return time.Time{}, ctx.Err()
		case Refused(err):
			if streak.IsZero() {
				streak = now
				need = w.Wait(ctx)
			}
			if now.Sub(streak) >= need {
				since = streak
				if !brokeAt.IsZero() && brokeAt.Before(streak) && streak.Sub(brokeAt) < time.Second {
					since = brokeAt
				}
				return since, nil
			}
			backoff = probe
		default:
			// Not evidence: a timeout, no route, a DNS failure. Start over,
			// and do not hammer an address that does not answer.
			streak = time.Time{}
			backoff = min(2*backoff, time.Second)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return time.Time{}, ctx.Err()
		case <-t.C:
		}
	}
}

// holdIdle keeps c open, discarding what the peer sends, until the peer
// closes it or ctx ends; it returns when that happened.
func holdIdle(ctx context.Context, c net.Conn) time.Time {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	io.Copy(io.Discard, c)
	at := time.Now()
	stop()
	c.Close()
	return at
}
