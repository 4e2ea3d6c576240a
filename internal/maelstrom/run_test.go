package maelstrom

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// session drives Run in-process over pipes, so that the race detector
// sees the masters, the failover and the shutdown.
type session struct {
	t      *testing.T
	in     *io.PipeWriter
	out    *bufio.Scanner
	done   chan error
	cancel context.CancelFunc
}

func startSession(t *testing.T) *session {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, in: inW, out: bufio.NewScanner(outR), done: make(chan error, 1), cancel: cancel}
	go func() {
		err := Run(ctx, inR, outW, io.Discard)
		outW.Close()
		s.done <- err
	}()
	t.Cleanup(func() {
		cancel()
		inW.Close()
		outR.Close() // unblocks a reply write nobody reads
		<-s.done
	})
	return s
}

// ask sends a request line and returns the reply, within a bound.
func (s *session) ask(line string) string {
	s.t.Helper()
	got := make(chan string, 1)
	go func() {
		if _, err := io.WriteString(s.in, line+"\n"); err != nil {
			got <- "write: " + err.Error()
			return
		}
		if !s.out.Scan() {
			got <- "no reply: " + io.ErrUnexpectedEOF.Error()
			return
		}
		got <- s.out.Text()
	}()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case l := <-got:
		return l
	case <-t.C:
		s.t.Fatalf("no reply to %s within 10s", line)
		return ""
	}
}

// wait returns Run's result, within a bound.
func (s *session) wait(within time.Duration) error {
	s.t.Helper()
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case err := <-s.done:
		s.done <- err // for cleanup
		return err
	case <-t.C:
		s.t.Fatalf("Run did not return within %v", within)
		return nil
	}
}

func TestRunFailoverAndFailbackInProcess(t *testing.T) {
	s := startSession(t)
	start := time.Now()
	if got, want := s.ask(initMsg(1, "n1", "n2", "n3")), initOK(1, 0); got != want {
		t.Fatalf("init reply = %s; want %s", got, want)
	}
	t.Logf("init took %v", time.Since(start))
	if got, want := s.ask(statusMsg(2)), idleStatusOK(2, 1, "n1", "n2"); got != want {
		t.Errorf("status reply = %s; want %s", got, want)
	}
	checkFailover(t, s.ask(failoverMsg(3, "n1")), 3, 2, "n2")
	checkFailover(t, s.ask(failoverMsg(4, "n2")), 4, 3, "n3")
	checkFailover(t, s.ask(failoverMsg(5, "n3")), 5, 4, "n1")
	if got, want := s.ask(statusMsg(6)), idleStatusOK(6, 5, "n1", "n2"); got != want {
		t.Errorf("status reply = %s; want %s", got, want)
	}
	s.in.Close()
	if err := s.wait(5 * time.Second); err != nil {
		t.Errorf("Run after EOF = %v; want nil", err)
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	s := startSession(t)
	if got := s.ask(initMsg(1, "n1", "n2")); got != initOK(1, 0) {
		t.Fatalf("init reply = %s", got)
	}
	s.cancel()
	if err := s.wait(5 * time.Second); err != nil {
		t.Errorf("Run after cancel = %v; want nil", err)
	}
}

func TestRunFailsWhenStdoutFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	outR, outW := io.Pipe()
	outR.Close()
	err := Run(ctx, strings.NewReader(statusMsg(1)+"\n"), outW, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "write reply") {
		t.Errorf("Run with a closed stdout = %v; want a write error", err)
	}
}
