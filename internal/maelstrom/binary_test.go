package maelstrom

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run the built binary, `master maelstrom`, as the seed's
// checker does: lines on stdin, stdin closed, replies read from stdout.

func TestSeedSamples(t *testing.T) {
	ins, err := filepath.Glob("testdata/seed/*.in")
	if err != nil || len(ins) == 0 {
		t.Fatalf("no seed samples in testdata/seed: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in")
		t.Run(name, func(t *testing.T) {
			input, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			expected, err := os.ReadFile(strings.TrimSuffix(in, ".in") + ".expected")
			if err != nil {
				t.Fatal(err)
			}
			r := runCase(t, strings.TrimRight(string(input), "\n"))
			for _, want := range strings.Split(strings.TrimRight(string(expected), "\n"), "\n") {
				if !slices.Contains(r.lines, want) {
					t.Errorf("stdout lacks the expected line\n%s\nstdout:\n%s", want, strings.Join(r.lines, "\n"))
				}
			}
		})
	}
}

func TestEveryMessageType(t *testing.T) {
	r := runCase(t,
		initMsg(1, "n1", "n2"),
		statusMsg(2),
		failoverMsg(3, "n2"), // a standby: nothing happens
		failoverMsg(4, "n1"), // the primary: a real failover
		statusMsg(5),
	)
	wantLines(t, r.lines,
		initOK(1, 0),
		idleStatusOK(2, 1, "n1", "n2"),
		standbyFailoverOK(3, 2, "n1"),
		"", // measured: checked below
		idleStatusOK(5, 4, "n2", "n1"),
	)
	if len(r.lines) == 5 {
		checkFailover(t, r.lines[3], 4, 3, "n2")
	}
}

func TestRequestsBeforeInit(t *testing.T) {
	r := runCase(t,
		statusMsg(1),
		failoverMsg(2, "n1"),
		`{"src":"c1","dest":"n1","body":{"type":"bogus","msg_id":3}}`,
		`{"src":"c1","body":{"type":"shadow_status","msg_id":4}}`, // no dest: reply src is empty
		initMsg(5, "n1", "n2"),
		statusMsg(6),
	)
	before := func(typ string) string { return typ + " before init: send init with node_id and node_ids first" }
	wantLines(t, r.lines,
		errorReply("c1", 1, 0, CodeNotInitialized, before("shadow_status")),
		errorReply("c1", 2, 1, CodeNotInitialized, before("trigger_failover")),
		errorReply("c1", 3, 2, CodeNotInitialized, before("bogus")),
		strings.Replace(errorReply("c1", 4, 3, CodeNotInitialized, before("shadow_status")), `"src": "n1"`, `"src": ""`, 1),
		initOK(5, 4),
		idleStatusOK(6, 5, "n1", "n2"),
	)
}

func TestUnknownType(t *testing.T) {
	r := runCase(t,
		initMsg(1, "n1", "n2"),
		`{"src":"c1","dest":"n1","body":{"type":"read","msg_id":2}}`,
		`{"src":"c1","dest":"n1","body":{"type":"échec","msg_id":3}}`,
		statusMsg(4),
	)
	unknown := `; this node answers init, shadow_status and trigger_failover`
	wantLines(t, r.lines,
		initOK(1, 0),
		errorReply("c1", 2, 1, CodeNotSupported, `unknown message type "read"`+unknown),
		`{"src": "n1", "dest": "c1", "body": {"type": "error", "in_reply_to": 3, "msg_id": 2, "code": 10, `+
			`"text": "unknown message type \"\u00e9chec\"; this node answers init, shadow_status and trigger_failover"}}`,
		idleStatusOK(4, 3, "n1", "n2"),
	)
}

func TestUnknownMaster(t *testing.T) {
	r := runCase(t,
		initMsg(1, "n1", "n2"),
		failoverMsg(2, "n3"),
		failoverMsg(3, ""),
		statusMsg(4), // nothing changed
	)
	wantLines(t, r.lines,
		initOK(1, 0),
		errorReply("c1", 2, 1, CodeMalformed, `trigger_failover: failed_master "n3" is not one of the masters (n1, n2)`),
		errorReply("c1", 3, 2, CodeMalformed, `trigger_failover: failed_master "" is not one of the masters (n1, n2)`),
		idleStatusOK(4, 3, "n1", "n2"),
	)
}

func TestMalformedRequests(t *testing.T) {
	r := runCase(t,
		`{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1"}}`,
		`{"src":"c0","dest":"n1","body":{"type":"init","msg_id":2,"node_ids":["n1"]}}`,
		`{"src":"c0","dest":"n1","body":{"type":"init","msg_id":3,"node_id":"n1","node_ids":"n1"}}`,
		`{"src":"c0","dest":"n1","body":{"type":"init","msg_id":4,"node_id":"n1","node_ids":["n1",2]}}`,
		`{"src":"c0","dest":"n1","body":{"type":"init","msg_id":5,"node_id":"n1","node_ids":[]}}`,
		`{"src":"c0","dest":"n1","body":{"type":"init","msg_id":6,"node_id":"n1","node_ids":["n1","n1"]}}`,
		`{"src":"c0","dest":"n1","body":{"type":"init","msg_id":7,"node_id":1,"node_ids":["n1"]}}`,
		initMsg(8, "n1", "n2"),
		`{"src":"c1","dest":"n1","body":{"type":"trigger_failover","msg_id":9}}`,
		`{"src":"c1","dest":"n1","body":{"type":"trigger_failover","msg_id":10,"failed_master":1}}`,
		`{"src":"c1","dest":"n1","body":{"type":"trigger_failover","msg_id":11,"failed_master":null}}`,
		`{"src":"c1","dest":"n1","body":{"type":"shadow_status"}}`,
		`{"src":"c1","dest":"n1","body":{"type":"shadow_status","msg_id":"12"}}`,
		`{"src":"c1","dest":"n1","body":{"msg_id":13}}`,
		`{"src":"c1","dest":"n1"}`,
		`{"src":"c1","dest":"n1","body":"shadow_status"}`,
		statusMsg(14),
	)
	wantLines(t, r.lines,
		errorReply("c0", 1, 0, CodeMalformed, "init: missing field node_ids"),
		errorReply("c0", 2, 1, CodeMalformed, "init: missing field node_id"),
		errorReply("c0", 3, 2, CodeMalformed, "init: node_ids: want an array of strings, got a string"),
		errorReply("c0", 4, 3, CodeMalformed, "init: node_ids[1]: want a string, got the number 2"),
		errorReply("c0", 5, 4, CodeMalformed, "init: node_ids names 0 masters; name 1 to 9, the first starts as primary"),
		errorReply("c0", 6, 5, CodeMalformed, `init: node_ids names "n1" twice; every master needs its own name`),
		errorReply("c0", 7, 6, CodeMalformed, "init: node_id: want a string, got the number 1"),
		initOK(8, 7),
		errorReply("c1", 9, 8, CodeMalformed, "trigger_failover: missing field failed_master"),
		errorReply("c1", 10, 9, CodeMalformed, "trigger_failover: failed_master: want a string, got the number 1"),
		errorReply("c1", 11, 10, CodeMalformed, "trigger_failover: failed_master: want a string, got null"),
		errorReply("c1", nil, 11, CodeMalformed, "missing field msg_id (an integer that the reply's in_reply_to echoes)"),
		errorReply("c1", nil, 12, CodeMalformed, `msg_id: want an integer, got a string`),
		errorReply("c1", 13, 13, CodeMalformed, "missing field type"),
		errorReply("c1", nil, 14, CodeMalformed, "missing field body"),
		errorReply("c1", nil, 15, CodeMalformed, "body: want a JSON object, got a string"),
		idleStatusOK(14, 16, "n1", "n2"),
	)
	if len(r.lines) > 11 && !strings.Contains(r.lines[11], `"in_reply_to": null, "msg_id": 11`) {
		t.Errorf("a request without msg_id: in_reply_to should be null: %s", r.lines[11])
	}
}

func TestRepeatedFailoverAndFailback(t *testing.T) {
	r := runCase(t,
		initMsg(1, "n1", "n2"),
		failoverMsg(2, "n1"),
		statusMsg(3),
		failoverMsg(4, "n2"), // fail back
		statusMsg(5),
		failoverMsg(6, "n1"),
		failoverMsg(7, "n2"),
		statusMsg(8),
	)
	wantLines(t, r.lines,
		initOK(1, 0),
		"",
		idleStatusOK(3, 2, "n2", "n1"),
		"",
		idleStatusOK(5, 4, "n1", "n2"),
		"",
		"",
		idleStatusOK(8, 7, "n1", "n2"),
	)
	if len(r.lines) == 8 {
		checkFailover(t, r.lines[1], 2, 1, "n2")
		checkFailover(t, r.lines[3], 4, 3, "n1")
		checkFailover(t, r.lines[5], 6, 5, "n2")
		checkFailover(t, r.lines[6], 7, 6, "n1")
	}
}

func TestThreeMasters(t *testing.T) {
	r := runCase(t,
		initMsg(1, "n1", "n2", "n3"),
		statusMsg(2),
		failoverMsg(3, "n1"), // n2 is first in the queue
		statusMsg(4),         // n3 is now ahead of the rejoined n1
		failoverMsg(5, "n3"), // a standby: nothing happens
		failoverMsg(6, "n2"),
		failoverMsg(7, "n3"),
		statusMsg(8),
	)
	wantLines(t, r.lines,
		initOK(1, 0),
		idleStatusOK(2, 1, "n1", "n2"),
		"",
		idleStatusOK(4, 3, "n2", "n3"),
		standbyFailoverOK(5, 4, "n2"),
		"",
		"",
		idleStatusOK(8, 7, "n1", "n2"),
	)
	if len(r.lines) == 8 {
		checkFailover(t, r.lines[2], 3, 2, "n2")
		checkFailover(t, r.lines[5], 6, 5, "n3")
		checkFailover(t, r.lines[6], 7, 6, "n1")
	}
}

func TestStandbyNamedAsFailed(t *testing.T) {
	r := runCase(t,
		initMsg(1, "n1", "n2"),
		failoverMsg(2, "n2"),
		failoverMsg(3, "n2"),
		failoverMsg(4, "n1"), // the standby was not disturbed: it takes over
	)
	wantLines(t, r.lines,
		initOK(1, 0),
		standbyFailoverOK(2, 1, "n1"),
		standbyFailoverOK(3, 2, "n1"),
		"",
	)
	if len(r.lines) == 4 {
		checkFailover(t, r.lines[3], 4, 3, "n2")
	}
}

func TestSingleMasterHasNoShadow(t *testing.T) {
	r := runCase(t,
		initMsg(1, "n1"),
		statusMsg(2),
		failoverMsg(3, "n1"),
		statusMsg(4), // still serving: nothing was revoked
	)
	wantLines(t, r.lines,
		initOK(1, 0),
		idleStatusOK(2, 1, "n1", ""),
		errorReply("c1", 3, 2, CodeInternal,
			"maelstrom: no shadow to take over: n1 is the only master campaigning; name more masters in init's node_ids"),
		idleStatusOK(4, 3, "n1", ""),
	)
}

func TestSecondInit(t *testing.T) {
	r := runCase(t,
		initMsg(1, "n1", "n2"),
		failoverMsg(2, "n1"),
		initMsg(3, "n1", "n2"),       // the same: init_ok, nothing restarts
		statusMsg(4),                 // n2 still primary
		initMsg(5, "n1", "n2", "n3"), // different: refused
		statusMsg(6),
	)
	wantLines(t, r.lines,
		initOK(1, 0),
		"",
		initOK(3, 2),
		idleStatusOK(4, 3, "n2", "n1"),
		errorReply("c0", 5, 4, CodeMalformed,
			"init: already initialized as n1 with masters n1, n2; a different init needs a new process"),
		idleStatusOK(6, 5, "n2", "n1"),
	)
}

func TestReplyFormatAndMsgIDOrder(t *testing.T) {
	input := []string{initMsg(7, "n1", "n2")}
	for i := range 10 {
		input = append(input, statusMsg(100+i))
	}
	input = append(input, `{"src":"c9","dest":"n1","body":{"type":"nope","msg_id":-3}}`)
	r := runCase(t, input...)
	want := []string{`{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 7, "msg_id": 0}}`}
	for i := range 10 {
		want = append(want, `{"src": "n1", "dest": "c1", "body": {"type": "shadow_status_ok", "in_reply_to": `+
			itoa(100+i)+`, "msg_id": `+itoa(i+1)+`, "primary": "n1", "shadow": "n2", "wal_lag_entries": 0, "wal_lag_ms": 0}}`)
	}
	want = append(want, `{"src": "n1", "dest": "c9", "body": {"type": "error", "in_reply_to": -3, "msg_id": 11, "code": 10, `+
		`"text": "unknown message type \"nope\"; this node answers init, shadow_status and trigger_failover"}}`)
	wantLines(t, r.lines, want...)
}

func itoa(i int) string { b, _ := Marshal(i); return string(b) }

func TestNotJSONIsSkippedWithANote(t *testing.T) {
	r := runCase(t,
		initMsg(1, "n1", "n2"),
		"this is not json {",
		"",
		"[1, 2, 3]",
		`{"dest":"n1","body":{"type":"shadow_status","msg_id":9}}`,
		statusMsg(2),
	)
	wantLines(t, r.lines, initOK(1, 0), idleStatusOK(2, 1, "n1", "n2"))
	for _, want := range []string{
		`why="not JSON" line="this is not json {"`,
		`line="[1, 2, 3]"`,
		`"shadow_status\",\"msg_id\":9}}"`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks a note with %s:\n%s", want, r.stderr)
		}
	}
}

var etcdDirRE = regexp.MustCompile(`msg="embedded etcd serving".* dir=(\S+)`)

// TestExitOnEOF keeps stdin open until init is answered, then closes it:
// the process must exit 0 promptly, having removed etcd's data.
func TestExitOnEOF(t *testing.T) {
	// The bound tells an exit from a hang (an idle machine exits in well
	// under a second); a loaded one shuts etcd down slowly.
	const exitBound = 30 * time.Second
	ctx, cancel := context.WithTimeout(t.Context(), caseTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, masterBinary(t), "maelstrom")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	defer func() {
		cancel() // kills the process if still running
		<-waited
	}()
	lines := make(chan string, 4)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
		waited <- cmd.Wait() // after stdout is drained, as Wait closes it
	}()

	if _, err := stdin.Write([]byte(initMsg(1, "n1", "n2") + "\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-lines:
		if l != initOK(1, 0) {
			t.Fatalf("first reply = %s; want init_ok", l)
		}
	case <-ctx.Done():
		t.Fatalf("no init_ok within %v; stderr:\n%s", caseTimeout, stderr.String())
	}
	closed := time.Now()
	stdin.Close()
	timer := time.NewTimer(exitBound)
	defer timer.Stop()
	select {
	case err := <-waited:
		waited <- err // for the deferred wait
		took := time.Since(closed)
		t.Logf("exited %v after stdin closed", took.Round(time.Millisecond))
		if err != nil {
			t.Fatalf("exit: %v; want status 0\nstderr:\n%s", err, stderr.String())
		}
	case <-timer.C:
		t.Fatalf("still running %v after stdin closed\nstderr:\n%s", exitBound, stderr.String())
	}
	m := etcdDirRE.FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("stderr does not name etcd's directory:\n%s", stderr.String())
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("etcd's directory %s still exists after exit (stat: %v)", m[1], err)
	}
}

// TestExitOnSignal: SIGTERM stops the masters and etcd cleanly too.
func TestExitOnSignal(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), caseTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, masterBinary(t), "maelstrom")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	defer func() {
		cancel()
		<-waited
	}()
	lines := make(chan string, 4)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
		waited <- cmd.Wait()
	}()
	if _, err := stdin.Write([]byte(initMsg(1, "n1", "n2") + "\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lines:
	case <-ctx.Done():
		t.Fatalf("no init_ok within %v", caseTimeout)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	const exitBound = 30 * time.Second // an exit, not a hang
	timer := time.NewTimer(exitBound)
	defer timer.Stop()
	select {
	case err := <-waited:
		waited <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; want status 0\nstderr:\n%s", err, stderr.String())
		}
	case <-timer.C:
		t.Fatalf("still running %v after SIGTERM\nstderr:\n%s", exitBound, stderr.String())
	}
	if !strings.Contains(stderr.String(), `msg="masters and etcd stopped"`) {
		t.Errorf("stderr does not show a clean stop:\n%s", stderr.String())
	}
}
