package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gfsha/master/api/masterpb"
)

// TestJoinFromNothingAfterTrim is issue 4's join: after `ctl checkpoint`
// trimmed the log in etcd, a master with an empty data dir fetches the
// newest checkpoint from a peer, replays the tail, reaches the primary's
// state digest, and, once the two others are killed, serves every file.
func TestJoinFromNothingAfterTrim(t *testing.T) {
	c := startCluster(t, "n1", "n2")
	cl := c.NewClient()
	var files fileSet
	files.create(t, cl, "/join-a", 500)

	before := c.walBatches()
	rep := c.CtlCheckpoint()
	if rep.FirstIndex <= 1 {
		t.Fatalf("ctl checkpoint: first_index = %d; want the log trimmed (above 1)", rep.FirstIndex)
	}
	c.checkTrimmed(before, rep.FirstIndex)

	files.create(t, cl, "/join-b", 200)
	p := c.WaitPrimary(10*time.Second, "")
	pst, err := c.Status(p)
	if err != nil {
		t.Fatal(err)
	}
	published := newest(c.CtlStatus())

	if _, err := os.Stat(c.dataDir("n3")); !os.IsNotExist(err) {
		t.Fatalf("n3's data dir before it starts: %v; want none", err)
	}
	start := time.Now()
	n3 := c.AddMaster("n3")
	st := c.WaitCaughtUp(n3, pst.AppliedIndex, 30*time.Second)
	t.Logf("n3 joined from an empty data dir and applied index %d in %v", st.AppliedIndex, time.Since(start).Round(time.Millisecond))
	if st.CheckpointIndex == 0 || st.CheckpointIndex != published {
		t.Errorf("n3 /status checkpoint_index = %d; want %d, the newest checkpoint a peer published", st.CheckpointIndex, published)
	}
	if st.CheckpointIndex+1 < rep.FirstIndex {
		t.Errorf("n3's checkpoint is at %d, below the log's first index %d", st.CheckpointIndex, rep.FirstIndex)
	}
	if log := sinceLastStart(n3); !strings.Contains(log, "checkpoint fetched and loaded") {
		t.Errorf("n3's log does not say it fetched a checkpoint:\n%s", log)
	}
	if _, err := os.Stat(c.checkpointPath("n3", st.CheckpointIndex)); err != nil {
		t.Errorf("n3 keeps no copy of the fetched checkpoint: %v (files %v)", err, c.checkpointFiles("n3"))
	}
	idx := c.WaitSameDigest(n3, p, 30*time.Second)
	t.Logf("n3 and %s have the same digest at index %d", p.ID, idx)

	// n3 alone takes over, with every file.
	for _, m := range c.Masters {
		if m != n3 {
			m.Kill(t)
		}
	}
	killed := time.Now()
	if got := c.WaitPrimary(30*time.Second, ""); got != n3 {
		t.Fatalf("%s serves; want n3", got.ID)
	}
	t.Logf("n3 serves %v after n1 and n2 were killed", time.Since(killed).Round(time.Millisecond))
	files.checkPresent(t, c.NewClient(), "n3")
}

// TestBothMastersKilledRecoverEverything kills both masters with SIGKILL
// after a checkpoint and a tail of writes after it, and restarts them with
// the same data dirs: each loads its own checkpoint and replays the tail
// (none fetches), a primary serves exactly the acknowledged files, and both
// reach the same digest at the same index, past the one before the kill.
func TestBothMastersKilledRecoverEverything(t *testing.T) {
	c := startCluster(t, "n1", "n2")
	cl := c.NewClient()
	var files fileSet
	files.create(t, cl, "/both-a", 400)
	rep := c.CtlCheckpoint()
	files.create(t, cl, "/both-b", 200) // the tail after the checkpoint

	p := c.WaitPrimary(10*time.Second, "")
	before, err := c.Status(p)
	if err != nil {
		t.Fatal(err)
	}
	if before.AppliedIndex <= rep.Index {
		t.Fatalf("%s applied %d, not past the checkpoint at %d: no tail to replay", p.ID, before.AppliedIndex, rep.Index)
	}
	for _, m := range c.Masters {
		m.Kill(t)
	}

	start := time.Now()
	for _, m := range c.Masters {
		c.StartMaster(m)
	}
	np := c.WaitPrimary(30*time.Second, "")
	t.Logf("%s serves %v after both restarted", np.ID, time.Since(start).Round(time.Millisecond))
	files.checkPresent(t, c.NewClient(), np.ID)

	// The new primary's promotion appends a record, so the digest moves on
	// from the one before the kill; both members must agree on it.
	idx := c.WaitSameDigest(c.Masters[0], c.Masters[1], 30*time.Second)
	if idx < before.AppliedIndex {
		t.Fatalf("after restart the digests agree at index %d; want at least %d, the index before the kill", idx, before.AppliedIndex)
	}
	for _, m := range c.Masters {
		st, err := c.Status(m)
		if err != nil {
			t.Fatal(err)
		}
		log := sinceLastStart(m)
		switch {
		case st.CheckpointIndex != rep.Members[m.ID]:
			t.Errorf("%s /status checkpoint_index = %d after restart; want %d, its own", m.ID, st.CheckpointIndex, rep.Members[m.ID])
		case !logged(log, "checkpoint loaded", rep.Members[m.ID]):
			t.Errorf("%s's log since restart does not say it loaded its checkpoint at %d:\n%s", m.ID, rep.Members[m.ID], log)
		case strings.Contains(log, "fetching checkpoint"):
			t.Errorf("%s fetched a checkpoint though it had its own:\n%s", m.ID, log)
		}
	}
	t.Logf("both loaded their checkpoint at %d, replayed to %d; digests equal", rep.Index, idx)
}

// TestCorruptLatestCheckpointFallsBack damages a master's newest
// checkpoint while it is down. On restart it logs that the checkpoint is
// unusable, renames it *.corrupt and loads the previous one, and replays
// the log from there: the log is trimmed only below the oldest checkpoint
// each member keeps, so no peer is needed. It then holds every acknowledged
// file: it reaches
// the primary's digest and takes over when the primary stops, or, alone,
// serves them itself.
func TestCorruptLatestCheckpointFallsBack(t *testing.T) {
	ctlCheckpoint := func(t *testing.T, c *Cluster, victim *Master) uint64 {
		return c.CtlCheckpoint().Members[victim.ID]
	}
	tests := []struct {
		name string
		// alone: the victim is the only master; otherwise it is n2, a
		// standby of n1.
		alone bool
		// flags for every master
		flags []string
		// second writes the victim's second checkpoint and returns its index
		second func(t *testing.T, c *Cluster, victim *Master) uint64
		// wantFetch: the log no longer covers the victim's previous
		// checkpoint, so it must fetch a peer's
		wantFetch bool
	}{
		{
			name: "standby, previous checkpoint within the log",
			// No background trim: only ctl checkpoint trims, and the
			// second checkpoint is written on the standby alone.
			flags: []string{"--wal-trim-interval", "1h"},
			second: func(t *testing.T, c *Cluster, victim *Master) uint64 {
				c.WaitAllCaughtUp(30 * time.Second)
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				r, err := victim.rpc(t).Checkpoint(ctx, &masterpb.CheckpointRequest{})
				if err != nil {
					t.Fatalf("%s Checkpoint: %v", victim.ID, err)
				}
				return r.GetIndex()
			},
		},
		{
			// Trimming keeps the oldest checkpoint every member holds, so
			// even after two rounds of ctl checkpoint the standby can fall
			// back to its previous one without a peer.
			name:   "standby, both checkpoints by ctl checkpoint",
			second: ctlCheckpoint,
		},
		{
			// Alone there is no peer to fetch from: the log must still
			// cover the previous checkpoint, or the fallback is useless.
			name:   "alone",
			alone:  true,
			second: ctlCheckpoint,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			c.StartEtcd("")
			primary := c.addMasterWith("n1", tc.flags...)
			c.WaitPrimary(30*time.Second, "")
			victim := primary
			if !tc.alone {
				victim = c.addMasterWith("n2", tc.flags...)
				c.WaitRole(victim, "standby", 30*time.Second)
			}

			cl := c.NewClient()
			var files fileSet
			files.create(t, cl, "/corrupt-a", 300)
			first := c.CtlCheckpoint().Members[victim.ID]
			files.create(t, cl, "/corrupt-b", 200)
			second := tc.second(t, c, victim)
			if second <= first {
				t.Fatalf("%s's second checkpoint is at %d; want above the first, %d", victim.ID, second, first)
			}
			files.create(t, cl, "/corrupt-c", 100) // the tail after both

			logFirst := c.walFirst()
			if covered := logFirst <= first+1; covered == tc.wantFetch {
				if !tc.alone {
					t.Fatalf("the log starts at %d and the previous checkpoint is at %d: covered %v; this case needs %v",
						logFirst, first, covered, !tc.wantFetch)
				}
				// Carry on: what matters is whether the master recovers.
				t.Errorf("the log starts at %d, past %s's previous checkpoint at %d: a lone master trimmed below its newest "+
					"checkpoint, so a damaged newest one leaves nothing to fall back to", logFirst, victim.ID, first)
			}
			pst, err := c.Status(primary)
			if err != nil {
				t.Fatal(err)
			}
			head := pst.AppliedIndex
			c.WaitCaughtUp(victim, head, 10*time.Second)
			victim.Kill(t)
			newestPath := c.checkpointPath(victim.ID, second)
			if _, err := os.Stat(c.checkpointPath(victim.ID, first)); err != nil {
				t.Fatalf("%s's previous checkpoint: %v (files %v)", victim.ID, err, c.checkpointFiles(victim.ID))
			}
			corruptMiddle(t, newestPath)

			start := time.Now()
			c.StartMaster(victim)
			st := c.WaitCaughtUp(victim, head, 15*time.Second)
			t.Logf("%s restarted and applied index %d in %v", victim.ID, st.AppliedIndex, time.Since(start).Round(time.Millisecond))

			log := sinceLastStart(victim)
			switch {
			case !strings.Contains(log, "checkpoint unusable"):
				t.Errorf("%s's log does not say its newest checkpoint is unusable:\n%s", victim.ID, log)
			case !logged(log, "checkpoint loaded", first):
				t.Errorf("%s's log does not say it loaded the previous checkpoint, at %d:\n%s", victim.ID, first, log)
			case tc.wantFetch != strings.Contains(log, "checkpoint fetched and loaded"):
				t.Errorf("%s fetched a checkpoint from a peer: %v; want %v:\n%s", victim.ID, !tc.wantFetch, tc.wantFetch, log)
			}
			if _, err := os.Stat(newestPath + ".corrupt"); err != nil {
				t.Errorf("the damaged checkpoint was not renamed *.corrupt: %v (files %v)", err, c.checkpointFiles(victim.ID))
			}
			if tc.wantFetch {
				if st.CheckpointIndex < second {
					t.Errorf("%s /status checkpoint_index = %d; want the fetched one, at least %d", victim.ID, st.CheckpointIndex, second)
				}
			} else {
				if _, err := os.Stat(newestPath); err == nil {
					t.Errorf("%s is still there beside its .corrupt copy", newestPath)
				}
				if st.CheckpointIndex != first {
					t.Errorf("%s /status checkpoint_index = %d; want %d, the previous checkpoint", victim.ID, st.CheckpointIndex, first)
				}
			}
			t.Logf("%s's checkpoints after restart: %v", victim.ID, c.checkpointFiles(victim.ID))

			if tc.alone {
				c.WaitPrimary(15*time.Second, "")
				files.checkPresent(t, cl, victim.ID)
				return
			}
			idx := c.WaitSameDigest(victim, primary, 30*time.Second)
			t.Logf("%s and %s have the same digest at index %d", victim.ID, primary.ID, idx)
			files.checkPresent(t, cl, primary.ID)

			// The restarted standby takes over with every file.
			primary.Term(t)
			if got := c.WaitPrimary(30*time.Second, primary.ID); got != victim {
				t.Fatalf("%s serves; want %s", got.ID, victim.ID)
			}
			files.checkPresent(t, c.NewClient(), victim.ID)
		})
	}
}
