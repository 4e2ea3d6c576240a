package benchsuite

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Op is one operation of a load: w is the writer running it, i a number
// unique across the whole load (warm-up included), so that paths built from
// it never repeat.
type Op func(ctx context.Context, w, i int) error

// Load is the outcome of one measured load.
type Load struct {
	Ops     int
	Elapsed time.Duration
	// Latencies of the measured operations, sorted.
	Latencies []time.Duration
}

// Add returns the two loads as one: their operations, elapsed times and
// latencies added up.
func (l Load) Add(m Load) Load {
	lat := append(slices.Clone(l.Latencies), m.Latencies...)
	slices.Sort(lat)
	return Load{Ops: l.Ops + m.Ops, Elapsed: l.Elapsed + m.Elapsed, Latencies: lat}
}

// OpsPerS is the measured rate.
func (l Load) OpsPerS() float64 {
	if l.Elapsed <= 0 {
		return 0
	}
	return float64(l.Ops) / l.Elapsed.Seconds()
}

// PercentileMs is the nearest-rank percentile (p in (0, 1]) of the
// latencies, in milliseconds.
func (l Load) PercentileMs(p float64) float64 { return percentileMs(l.Latencies, p) }

// percentileMs is the nearest-rank percentile of sorted, in milliseconds: the
// smallest sample that at least p of the samples do not exceed.
func percentileMs(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	k := int(math.Ceil(p*float64(len(sorted)))) - 1
	k = max(0, min(k, len(sorted)-1))
	return ms(sorted[k])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Drive runs op from writers goroutines, each issuing its next operation as
// soon as the previous one is acknowledged: first for warmup, not counted,
// then for d. Operations that start within d are counted, and the elapsed
// time runs until the last of them is acknowledged. A writer none of whose
// operations started within d (each took longer than warmup and d: a slow
// or loaded machine) starts one more, counted, so that every writer
// contributes a latency and a figure of 0 ops/s never stands for "slow".
// Any failed operation fails the load.
func Drive(ctx context.Context, writers int, warmup, d time.Duration, op Op) (Load, error) {
	var (
		seq      atomic.Int64
		failed   atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
		lats     = make([][]time.Duration, writers)
		lastDone = make([]time.Time, writers)
	)
	begin := time.Now()
	start, end := begin.Add(warmup), begin.Add(warmup+d)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && failed.Load() == 0 {
				t0 := time.Now()
				if !t0.Before(end) && len(lats[w]) > 0 {
					return
				}
				counted := !t0.Before(start)
				err := op(ctx, w, int(seq.Add(1)))
				done := time.Now()
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					return
				}
				if counted {
					lats[w] = append(lats[w], done.Sub(t0))
					lastDone[w] = done
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return Load{}, err
	}
	if firstErr != nil {
		return Load{}, fmt.Errorf("%d operation(s) failed; the first: %w", failed.Load(), firstErr)
	}
	var l Load
	last := start
	for w := range writers {
		l.Latencies = append(l.Latencies, lats[w]...)
		if lastDone[w].After(last) {
			last = lastDone[w]
		}
	}
	slices.Sort(l.Latencies)
	l.Ops = len(l.Latencies)
	l.Elapsed = last.Sub(start)
	return l, nil
}

// forEach runs fn(i) for i in [0, n) from conc goroutines and returns the
// first error.
func forEach(ctx context.Context, n, conc int, fn func(ctx context.Context, i int) error) error {
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(ctx, i); err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
