package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is one child process (etcd or a master) that can be started again
// with the same arguments after it exits. Its stdout and stderr are appended
// to NAME.stdout and NAME.stderr in the test's directory, across restarts.
type Process struct {
	Name string
	bin  string
	args []string
	dir  string // working directory and log directory

	mu   sync.Mutex // guards cmd, done and err
	cmd  *exec.Cmd
	done chan struct{} // closed when the current run has exited
	err  error         // the current run's exit error, once done
}

func newProcess(dir, name, bin string, args ...string) *Process {
	return &Process{Name: name, bin: bin, args: args, dir: dir}
}

func (p *Process) stdoutPath() string { return filepath.Join(p.dir, p.Name+".stdout") }
func (p *Process) stderrPath() string { return filepath.Join(p.dir, p.Name+".stderr") }

// Start runs the process. It fails the test if the process is running.
func (p *Process) Start(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		select {
		case <-p.done:
		default:
			t.Fatalf("%s: Start while running (pid %d)", p.Name, p.cmd.Process.Pid)
		}
	}
	open := func(path string) *os.File {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		return f
	}
	stdout, stderr := open(p.stdoutPath()), open(p.stderrPath())
	fmt.Fprintf(stderr, "=== e2e: start %s %s at %s\n", filepath.Base(p.bin), strings.Join(p.args, " "), time.Now().Format(time.StampMicro))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = p.dir
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		stdout.Close()
		stderr.Close()
		t.Fatalf("%s: start: %v", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	go func() {
		err := cmd.Wait()
		stdout.Close()
		stderr.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
}

// Pid is the current run's process id.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the current run has not exited.
func (p *Process) Running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

func (p *Process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil {
		t.Fatalf("%s: %v before Start", p.Name, sig)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%s: signal %v: %v", p.Name, sig, err)
	}
}

// Kill sends SIGKILL and waits (bounded) until the process is gone.
func (p *Process) Kill(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGKILL)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := p.Wait(ctx); errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: still running 10s after SIGKILL", p.Name)
	}
}

// Stop pauses the process (SIGSTOP).
func (p *Process) Stop(t *testing.T) { t.Helper(); p.signal(t, syscall.SIGSTOP) }

// Cont resumes a paused process (SIGCONT).
func (p *Process) Cont(t *testing.T) { t.Helper(); p.signal(t, syscall.SIGCONT) }

// Term asks the process to exit (SIGTERM); Wait tells when it has.
func (p *Process) Term(t *testing.T) { t.Helper(); p.signal(t, syscall.SIGTERM) }

// Wait waits for the current run to exit and returns its exit code (-1 when
// killed by a signal), or ctx's error if ctx ends first.
func (p *Process) Wait(ctx context.Context) (int, error) {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return 0, fmt.Errorf("%s: not started", p.Name)
	}
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-done:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.ProcessState.ExitCode(), nil
}

// kill ends the process if it runs, without failing: for cleanup.
func (p *Process) kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL) // works on a stopped process too
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// Stderr is everything the process wrote to stderr, across restarts.
func (p *Process) Stderr() string {
	b, _ := os.ReadFile(p.stderrPath())
	return string(b)
}

// tail is the last n lines of the process's stderr and stdout.
func (p *Process) tail(n int) string {
	var out strings.Builder
	for _, path := range []string{p.stderrPath(), p.stdoutPath()} {
		b, err := os.ReadFile(path)
		if err != nil || len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		fmt.Fprintf(&out, "--- %s (last %d lines)\n%s\n", filepath.Base(path), len(lines), strings.Join(lines, "\n"))
	}
	return out.String()
}

// cmdResult is the outcome of a short command run to completion.
type cmdResult struct {
	Stdout, Stderr string
	Code           int // exit code; -1 when killed
	Took           time.Duration
}

func (r cmdResult) String() string {
	return fmt.Sprintf("exit %d after %v; stdout %q; stderr %q", r.Code, r.Took.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// run runs bin with args in dir until it exits; if it runs longer than
// bound, it is killed and the test fails.
func run(t *testing.T, bound time.Duration, dir, bin string, args ...string) cmdResult {
	t.Helper()
	return runEnv(t, bound, dir, nil, bin, args...)
}

// runEnv is run with env added to the child's environment.
func runEnv(t *testing.T, bound time.Duration, dir string, env []string, bin string, args ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = childEnv(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := cmdResult{Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: did not finish within %v: %s", filepath.Base(bin), strings.Join(args, " "), bound, r)
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return r
}
