package chunkmaster_test

import (
	"testing"
	"time"

	"github.com/gfsha/master/api/chunkpb"
	"github.com/gfsha/master/client"
)

func (e *env) fsck(path string) client.FsckReport {
	e.t.Helper()
	r, err := e.cl.Fsck(e.ctx(30*time.Second), path)
	if err != nil {
		e.t.Fatalf("Fsck(%s): %v", path, err)
	}
	return r
}

// TestFsckFindsUnderReplicatedAndTrimsOverReplicated: with 3 chunkservers
// and replication 3, losing one leaves every chunk under-replicated (no
// fourth server to copy to), as fsck and the metric's source say; when it
// returns the chunks are whole again. With a fourth chunkserver, the copies
// made meanwhile leave 4 replicas once the lost one returns, and the scan
// trims them back to 3.
func TestFsckFindsUnderReplicatedAndTrimsOverReplicated(t *testing.T) {
	e := startEnv(t, 1, 3, testChunk())
	data := randData(7, 2<<20+100) // 3 chunks
	if err := e.cl.Mkdir(e.ctx(10*time.Second), "/d"); err != nil {
		t.Fatal(err)
	}
	e.put("/d/f", data)
	e.put("/g", randData(8, 100))
	r := e.fsck("/")
	if r.Files != 2 || r.Chunks != 4 || r.UnderReplicated != 0 || r.Missing != 0 || !r.Healthy() || len(r.Problems) != 0 {
		t.Fatalf("fsck of a healthy cluster = %+v", r)
	}
	if r := e.fsck("/d"); r.Files != 1 || r.Chunks != 3 {
		t.Errorf("fsck /d = %d files, %d chunks; want 1, 3", r.Files, r.Chunks)
	}
	e.stopCS(0)
	e.waitFor(30*time.Second, "fsck to see every chunk under-replicated", func() bool {
		r = e.fsck("/")
		return r.UnderReplicated == 4
	})
	if r.Missing != 0 || !r.Healthy() || len(r.Problems) != 4 || r.Problems[0].Problem != "under-replicated" || len(r.Problems[0].Replicas) != 2 {
		t.Errorf("fsck after a chunkserver loss = %+v", r)
	}
	e.waitFor(30*time.Second, "the scan to count them", func() bool {
		u, m := e.primary().Chunks.ReplicationHealth()
		return u == 4 && m == 0
	})

	// A fourth chunkserver takes the copies; the lost one returns.
	e.dirs = append(e.dirs, e.dirs[0]+"-4")
	e.opts = append(e.opts, e.opts[0])
	e.css = append(e.css, nil)
	e.startCS(3)
	e.waitFor(30*time.Second, "re-replication to the fourth", func() bool {
		r = e.fsck("/")
		return r.UnderReplicated == 0 && r.OverReplicated == 0
	})
	e.startCS(0) // its disk still holds its 4 replicas: 16 on disk in all
	e.waitFor(30*time.Second, "the returning replicas trimmed: 12 on disk in all, 3 per chunk", func() bool {
		total := 0
		for _, cs := range e.css {
			info, err := e.chunkserver(cs).Info(e.ctx(5*time.Second), &chunkpb.InfoRequest{})
			if err != nil {
				return false
			}
			total += len(info.Chunks)
		}
		r = e.fsck("/")
		return total == 12 && r.OverReplicated == 0 && r.UnderReplicated == 0 && len(r.Problems) == 0
	})
	e.cat("/d/f", data)
}

// TestFsckReportsMissingData: with replication 1, losing the only
// chunkserver makes every chunk missing, and the report unhealthy.
func TestFsckReportsMissingData(t *testing.T) {
	cc := testChunk()
	cc.Replication = 1
	e := startEnv(t, 1, 1, cc)
	e.put("/f", randData(9, 1000))
	e.stopCS(0)
	var r client.FsckReport
	e.waitFor(30*time.Second, "fsck to see the chunk missing", func() bool {
		r = e.fsck("/")
		return r.Missing == 1
	})
	if r.Healthy() || r.Problems[0].Problem != "missing" || len(r.Problems[0].Replicas) != 0 {
		t.Errorf("fsck = %+v; want one missing chunk, unhealthy", r)
	}
}
