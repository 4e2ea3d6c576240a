package drill_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/devcluster"
	"github.com/gfsha/master/internal/drill"
)

func TestDrillPassesOnAHealthyCluster(t *testing.T) {
	dc := devcluster.StartT(t, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cl, err := client.New(ctx, client.Config{Etcd: dc.Masters[0].Etcd(), Cluster: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var progress bytes.Buffer
	r, err := drill.Run(ctx, drill.Options{Cluster: "test", Client: cl, Count: 2, Progress: &progress})
	if err != nil {
		t.Fatalf("drill: %v\n%s", err, progress.String())
	}
	if !r.Passed() || len(r.Rounds) != 2 || r.AcknowledgedWrites == 0 {
		t.Fatalf("drill report = %+v", r)
	}
	for _, k := range []string{drill.KindSwitchover, drill.KindFailover} {
		if p := r.Unavailability[k]; p.Count != 1 || p.Max < p.P50 {
			t.Errorf("unavailability[%s] = %+v; want 1 round", k, p)
		}
	}
	for _, rd := range r.Rounds {
		if rd.From == rd.To || rd.To == "" {
			t.Errorf("round %+v: no change of primary", rd)
		}
	}
	t.Logf("%s%+v", progress.String(), r.Unavailability)
}

// TestModelCatchesStaleRead: the drill's model refuses a stat that misses
// a file whose create was acknowledged before the stat began.
func TestModelCatchesStaleRead(t *testing.T) {
	ops := drill.StaleReadHistory()
	if drill.Check(ops) == porcupine.Ok {
		t.Fatal("a stale read passed the model")
	}
	if drill.Check(ops[:1]) != porcupine.Ok {
		t.Fatal("a lone acknowledged create failed the model")
	}
}
