package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCtlPutFewerReplicas: with one chunkserver and chunk.replication 3,
// `ctl put` writes the file (exit 0) and says that its chunks got fewer
// replicas than asked, on stderr and in -o json; `ctl cat` of a directory
// is exit 1 naming it.
func TestCtlPutFewerReplicas(t *testing.T) {
	d := startDataCluster(t, 1)
	local := filepath.Join(d.Dir, "small")
	if err := os.WriteFile(local, []byte("hello, one replica\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := d.Ctl("put", local, "/small")
	if r.Code != 0 || !strings.Contains(r.Stderr, "warning") || !strings.Contains(r.Stderr, "fewer than chunk.replication 3") {
		t.Fatalf("ctl put with 1 chunkserver: %s; want exit 0 and a warning naming chunk.replication 3", r)
	}
	r = d.Ctl("put", local, "/small2", "-o", "json")
	var got struct {
		Path            string `json:"path"`
		Bytes           int64  `json:"bytes"`
		Chunks          int    `json:"chunks"`
		Replicas        int    `json:"replicas"`
		Wanted          int    `json:"wanted"`
		UnderReplicated int    `json:"under_replicated"`
		Warning         string `json:"warning"`
	}
	if r.Code != 0 {
		t.Fatalf("ctl put -o json: %s", r)
	}
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
		t.Fatalf("ctl put -o json: %v: %q", err, r.Stdout)
	}
	if got.Path != "/small2" || got.Bytes != 19 || got.Chunks != 1 || got.Replicas != 1 || got.Wanted != 3 || got.UnderReplicated != 1 || got.Warning == "" {
		t.Fatalf("ctl put -o json = %s; want 1 chunk on 1 replica of 3 wanted, with a warning", r.Stdout)
	}
	if r := d.Ctl("cat", "/small2"); r.Code != 0 || r.Stdout != "hello, one replica\n" {
		t.Fatalf("ctl cat /small2: %s", r)
	}

	// cat of a directory.
	if r := d.Ctl("mkdir", "/dir"); r.Code != 0 {
		t.Fatalf("ctl mkdir /dir: %s", r)
	}
	for _, p := range []string{"/dir", "/"} {
		r := d.Ctl("cat", p)
		if r.Code != 1 || !strings.Contains(r.Stderr, p+" is a directory") {
			t.Fatalf("ctl cat %s: %s; want exit 1 and %q", p, r, p+" is a directory")
		}
	}
}
