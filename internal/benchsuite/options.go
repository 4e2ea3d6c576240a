package benchsuite

import (
	"fmt"
	"io"
	"time"
)

// Options size a run. [Quick] and [Full] are the two sizes of the command;
// tests use smaller ones.
type Options struct {
	// Name says which size this is, for the report ("quick", "full").
	Name string
	// Writers is the concurrency of the headline write figures.
	Writers int
	// WriteWarmup runs before each write measurement (each round's, and
	// each sweep level's) and is not counted.
	WriteWarmup time.Duration
	// WriteDuration is how long each headline write figure is measured, in
	// WriteRounds rounds: each round measures etcd puts, engine creates and
	// RPC creates in turn, so that a change in the machine's load (a disk
	// busy elsewhere) weighs on all three alike.
	WriteDuration time.Duration
	WriteRounds   int
	// SweepLevels are the RPC concurrencies of the throughput-latency plot;
	// SweepDuration is how long each is measured (Writers, if listed, reuses
	// the headline run).
	SweepLevels   []int
	SweepDuration time.Duration
	// Failovers is the number of revoke-to-first-write runs.
	Failovers int
	// ReplayRecords is the log length the standby replays, ReplayRuns how
	// many times (the median is reported).
	ReplayRecords int
	ReplayRuns    int
	// Files is the namespace size of the memory and restart figures.
	Files int
	// Restarts is the number of restarts timed (the median is reported).
	Restarts int
	// NoFsync turns etcd's fsync off: tests only, the figures then mean
	// little.
	NoFsync bool
	// Dir holds etcd's data and the checkpoints; empty means a temporary
	// directory, removed at the end.
	Dir string
	// Progress, if set, is told what runs, one line per phase.
	Progress io.Writer
}

// Quick is the size of `master bench --quick`: under four minutes on a
// 2-core machine.
func Quick() Options {
	return Options{
		Name:          "quick",
		Writers:       1024,
		WriteWarmup:   150 * time.Millisecond,
		WriteDuration: 5 * time.Second,
		WriteRounds:   10,
		SweepLevels:   []int{16, 64, 256, 1024},
		SweepDuration: 2 * time.Second,
		Failovers:     100,
		ReplayRecords: 1_000_000,
		ReplayRuns:    3,
		Files:         1_000_000,
		Restarts:      3,
	}
}

// Full is the size of `master bench`: a few minutes.
func Full() Options {
	return Options{
		Name:          "full",
		Writers:       1024,
		WriteWarmup:   250 * time.Millisecond,
		WriteDuration: 20 * time.Second,
		WriteRounds:   20,
		SweepLevels:   []int{16, 64, 256, 1024, 2048},
		SweepDuration: 5 * time.Second,
		Failovers:     200,
		ReplayRecords: 3_000_000,
		ReplayRuns:    3,
		Files:         1_000_000,
		Restarts:      5,
	}
}

// validate names the first field that cannot run.
func (o Options) validate() error {
	switch {
	case o.Writers < 1:
		return fmt.Errorf("benchsuite: Writers %d: need at least 1", o.Writers)
	case o.WriteRounds < 1:
		return fmt.Errorf("benchsuite: WriteRounds %d: need at least 1", o.WriteRounds)
	case o.WriteDuration <= 0:
		return fmt.Errorf("benchsuite: WriteDuration %v: need a positive duration", o.WriteDuration)
	case len(o.SweepLevels) > 0 && o.SweepDuration <= 0:
		return fmt.Errorf("benchsuite: SweepDuration %v: need a positive duration for SweepLevels %v", o.SweepDuration, o.SweepLevels)
	case o.Failovers < 1:
		return fmt.Errorf("benchsuite: Failovers %d: need at least 1", o.Failovers)
	case o.ReplayRecords < 1:
		return fmt.Errorf("benchsuite: ReplayRecords %d: need at least 1", o.ReplayRecords)
	case o.Files < 1:
		return fmt.Errorf("benchsuite: Files %d: need at least 1", o.Files)
	}
	for _, l := range o.SweepLevels {
		if l < 1 {
			return fmt.Errorf("benchsuite: SweepLevels %v: every level needs at least 1 writer", o.SweepLevels)
		}
	}
	return nil
}

func (o Options) progress(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "bench: "+format+"\n", args...)
	}
}
