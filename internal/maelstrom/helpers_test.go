package maelstrom

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// caseLimit is the seed's time limit per case, embedded etcd start included.
// A default run only logs each case's wall time against it (a loaded CI
// machine can miss it); -maelstrom.limit fails a case that takes longer.
const caseLimit = 5000 * time.Millisecond

var enforceLimit = flag.Bool("maelstrom.limit", false, "fail a case that takes the seed's time limit (5 s) or more")

// caseTimeout bounds a case's process: past it the process is killed (a
// hang, not slowness: a case takes well under a second on an idle machine).
const caseTimeout = 60 * time.Second

var bin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bin.dir != "" {
		os.RemoveAll(bin.dir)
	}
	os.Exit(code)
}

// masterBinary builds ./cmd/master once per test binary run, into a
// directory under this package (gitignored) rather than the system temp
// directory, which may be mounted noexec.
func masterBinary(t *testing.T) string {
	t.Helper()
	bin.once.Do(func() {
		bin.dir, bin.err = os.MkdirTemp(".", ".testbin-")
		if bin.err != nil {
			return
		}
		path, err := filepath.Abs(filepath.Join(bin.dir, "master"))
		if err != nil {
			bin.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", path, "github.com/gfsha/master/cmd/master").CombinedOutput()
		if err != nil {
			bin.err = fmt.Errorf("go build ./cmd/master: %v\n%s", err, out)
			return
		}
		bin.path = path
	})
	if bin.err != nil {
		t.Fatal(bin.err)
	}
	return bin.path
}

// result is one run of `master maelstrom`.
type result struct {
	lines  []string // stdout, one reply per line
	stderr string
	took   time.Duration // from start to exit
}

// runCase feeds input to `master maelstrom` on stdin, closes it, and waits
// for the process to exit (bounded). It fails the test when the process
// fails, takes caseLimit or more (with -maelstrom.limit), or writes
// anything but replies to stdout.
func runCase(t *testing.T, input ...string) result {
	t.Helper()
	bin := masterBinary(t) // built (once) before the case's clock starts
	ctx, cancel := context.WithTimeout(t.Context(), caseTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "maelstrom")
	cmd.Stdin = strings.NewReader(strings.Join(input, "\n") + "\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second // after a kill, do not wait on pipes for long
	start := time.Now()
	err := cmd.Run()
	r := result{stderr: stderr.String(), took: time.Since(start)}
	if err != nil {
		t.Fatalf("master maelstrom: %v (after %v)\nstdout:\n%s\nstderr:\n%s", err, r.took, stdout.String(), r.stderr)
	}
	t.Logf("wall time %v (limit %v); %s", r.took.Round(time.Millisecond), caseLimit, phases(r.stderr))
	if *enforceLimit && r.took >= caseLimit {
		t.Errorf("case took %v; want < %v (embedded etcd start included)\nstderr:\n%s", r.took, caseLimit, r.stderr)
	}
	if s := stdout.String(); s != "" {
		if !strings.HasSuffix(s, "\n") {
			t.Errorf("stdout does not end in a newline: %q", s)
		}
		r.lines = strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	}
	for _, l := range r.lines {
		checkReplyShape(t, l)
	}
	return r
}

// checkReplyShape fails unless line is one reply in the seed's format.
func checkReplyShape(t *testing.T, line string) {
	t.Helper()
	if !strings.HasPrefix(line, `{"src": "`) || !strings.Contains(line, `", "body": {"type": "`) {
		t.Errorf("stdout line is not a reply in the seed's format: %s", line)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		t.Errorf("stdout line is not JSON: %v: %s", err, line)
	}
	if len(v) != 3 {
		t.Errorf("reply has keys %v; want src, dest, body: %s", v, line)
	}
}

// reply is a parsed reply line.
type reply struct {
	Src, Dest string
	Body      map[string]any
}

func parseReply(t *testing.T, line string) reply {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(line))
	d.UseNumber()
	var r reply
	if err := d.Decode(&r); err != nil {
		t.Fatalf("reply %s: %v", line, err)
	}
	return r
}

// str returns the body's string field, failing the test when it is not one.
func (r reply) str(t *testing.T, name string) string {
	t.Helper()
	s, ok := r.Body[name].(string)
	if !ok {
		t.Fatalf("reply body %v: %s is %#v; want a string", r.Body, name, r.Body[name])
	}
	return s
}

// num returns the body's number field.
func (r reply) num(t *testing.T, name string) float64 {
	t.Helper()
	n, ok := r.Body[name].(json.Number)
	if !ok {
		t.Fatalf("reply body %v: %s is %#v; want a number", r.Body, name, r.Body[name])
	}
	f, err := n.Float64()
	if err != nil {
		t.Fatalf("reply body %v: %s: %v", r.Body, name, err)
	}
	return f
}

// wantLines fails unless got is want, line by line, byte for byte.
func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d reply lines; want %d\ngot:\n%s\nwant:\n%s", len(got), len(want),
			strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range min(len(got), len(want)) {
		if want[i] != "" && got[i] != want[i] {
			t.Errorf("reply %d =\n%s\nwant\n%s", i, got[i], want[i])
		}
	}
}

// Request lines as a client writes them (compact, like the seed's input).

func initMsg(id int, masters ...string) string {
	b, _ := json.Marshal(masters)
	return fmt.Sprintf(`{"src":"c0","dest":"n1","body":{"type":"init","msg_id":%d,"node_id":"n1","node_ids":%s}}`, id, b)
}

func statusMsg(id int) string {
	return fmt.Sprintf(`{"src":"c1","dest":"n1","body":{"type":"shadow_status","msg_id":%d}}`, id)
}

func failoverMsg(id int, failed string) string {
	return fmt.Sprintf(`{"src":"c1","dest":"n1","body":{"type":"trigger_failover","msg_id":%d,"failed_master":%q}}`, id, failed)
}

// Reply lines, byte for byte.

func initOK(inReplyTo, msgID int) string {
	return fmt.Sprintf(`{"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": %d, "msg_id": %d}}`, inReplyTo, msgID)
}

// idleStatusOK is shadow_status_ok of an idle group: no lag to measure.
func idleStatusOK(inReplyTo, msgID int, primary, shadow string) string {
	return fmt.Sprintf(`{"src": "n1", "dest": "c1", "body": {"type": "shadow_status_ok", "in_reply_to": %d, "msg_id": %d, `+
		`"primary": %q, "shadow": %q, "wal_lag_entries": 0, "wal_lag_ms": 0}}`, inReplyTo, msgID, primary, shadow)
}

// standbyFailoverOK is trigger_failover_ok naming a standby: nothing happens.
func standbyFailoverOK(inReplyTo, msgID int, primary string) string {
	return fmt.Sprintf(`{"src": "n1", "dest": "c1", "body": {"type": "trigger_failover_ok", "in_reply_to": %d, "msg_id": %d, `+
		`"new_primary": %q, "wal_entries_replayed": 0, "failover_time_ms": 0}}`, inReplyTo, msgID, primary)
}

func errorReply(dest string, inReplyTo any, msgID, code int, text string) string {
	b, _ := Marshal(Object{{"src", "n1"}, {"dest", dest}, {"body", Object{
		{"type", "error"}, {"in_reply_to", inReplyTo}, {"msg_id", msgID}, {"code", code}, {"text", text}}}})
	return string(b)
}

// checkFailover checks a real failover's reply: who took over, and that its
// figures are measured (positive, within the failover bound).
func checkFailover(t *testing.T, line string, inReplyTo, msgID int, newPrimary string) {
	t.Helper()
	r := parseReply(t, line)
	if r.Src != "n1" || r.Dest != "c1" || r.str(t, "type") != "trigger_failover_ok" ||
		r.num(t, "in_reply_to") != float64(inReplyTo) || r.num(t, "msg_id") != float64(msgID) {
		t.Fatalf("reply = %s; want trigger_failover_ok in_reply_to %d msg_id %d", line, inReplyTo, msgID)
	}
	if got := r.str(t, "new_primary"); got != newPrimary {
		t.Errorf("new_primary = %q; want %q: %s", got, newPrimary, line)
	}
	if ms := r.num(t, "failover_time_ms"); ms <= 0 || ms >= float64(failoverTimeout/time.Millisecond) {
		t.Errorf("failover_time_ms = %v; want measured, in (0, %v): %s", ms, failoverTimeout, line)
	}
	if n := r.num(t, "wal_entries_replayed"); n < 0 || n != float64(int64(n)) {
		t.Errorf("wal_entries_replayed = %v; want a count: %s", n, line)
	}
	wantKeys := `"type": "trigger_failover_ok", "in_reply_to": %d, "msg_id": %d, "new_primary": %q, "wal_entries_replayed": `
	if !strings.Contains(line, fmt.Sprintf(wantKeys, inReplyTo, msgID, newPrimary)) || !strings.Contains(line, `, "failover_time_ms": `) {
		t.Errorf("reply fields out of order: %s", line)
	}
}

var phaseRE = regexp.MustCompile(`msg="(embedded etcd serving|masters running|masters and etcd stopped)"(.*)$`)

// phases picks the timings the process logs on stderr: etcd serving and
// masters running (since init began), and the stop at exit.
func phases(stderr string) string {
	names := map[string]string{
		"embedded etcd serving": "etcd up", "masters running": "masters up", "masters and etcd stopped": "stop",
	}
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		m := phaseRE.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		for _, kv := range strings.Fields(m[2]) {
			if k, v, _ := strings.Cut(kv, "="); k == "took" {
				out = append(out, names[m[1]]+" "+v)
			}
		}
	}
	return strings.Join(out, ", ")
}
