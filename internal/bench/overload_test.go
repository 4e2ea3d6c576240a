package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gfsha/master/client"
	"github.com/gfsha/master/internal/devcluster"
)

var (
	overload         = flag.Bool("overload", false, "run TestOverload: far more writers than the master sustains")
	overloadWriters  = flag.Int("overload.writers", 1000, "TestOverload: writers of the baseline phase; the overload phase runs 10x as many")
	overloadDuration = flag.Duration("overload.duration", 30*time.Second, "TestOverload: length of each phase")
)

// TestOverload drives one master first with -overload.writers closed-loop
// writers, then with ten times as many, and reports throughput, latency and
// memory. Under overload the master's bounds (append queue, proposal slots,
// client lanes and batches) must keep the heap flat and p99 bounded:
//
//	go test -run TestOverload -overload -v ./internal/bench/
//
// Each writer creates and deletes its own file, so the namespace does not
// grow; the heap measured is the whole process (masters, embedded etcd,
// clients).
func TestOverload(t *testing.T) {
	if !*overload {
		t.Skip("run with -overload")
	}
	dc := devcluster.StartT(t, 1)
	primary := dc.Primary()
	base := *overloadWriters
	low := runLoad(t, dc, base, *overloadDuration, nil)
	t.Logf("baseline: %d writers: %s", base, low)
	var samples []heapSample
	var mu sync.Mutex
	high := runLoad(t, dc, 10*base, *overloadDuration, func(elapsed time.Duration) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mu.Lock()
		samples = append(samples, heapSample{elapsed, ms.HeapInuse, runtime.NumGoroutine(), primary.Node.QueuedBytes()})
		mu.Unlock()
	})
	t.Logf("overload: %d writers: %s", 10*base, high)
	half := len(samples) / 2
	var firstMax, secondMax uint64
	for i, s := range samples {
		if i%4 == 0 {
			t.Logf("  t=%5.1fs heap in use %4d MiB, goroutines %6d, append queue %5d KiB",
				s.at.Seconds(), s.heap>>20, s.goroutines, s.queued>>10)
		}
		if i < half {
			firstMax = max(firstMax, s.heap)
		} else {
			secondMax = max(secondMax, s.heap)
		}
	}
	t.Logf("heap in use: max %d MiB in the first half, %d MiB in the second", firstMax>>20, secondMax>>20)
	if secondMax > firstMax+firstMax/2+64<<20 {
		t.Errorf("heap grew from %d MiB to %d MiB under steady overload; want it flat", firstMax>>20, secondMax>>20)
	}
	if high.p99 > 30*time.Second {
		t.Errorf("p99 %v under overload; want it bounded well under 30 s", high.p99)
	}
	if high.ops == 0 {
		t.Errorf("no write succeeded under overload")
	}
}

type heapSample struct {
	at         time.Duration
	heap       uint64
	goroutines int
	queued     int
}

type loadResult struct {
	ops, failed int
	rate        float64
	p50, p99    time.Duration
	lastErr     error
}

func (r loadResult) String() string {
	return fmt.Sprintf("%d ops (%.0f/s), %d failed, p50 %v, p99 %v (last error: %v)",
		r.ops, r.rate, r.failed, r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.lastErr)
}

// runLoad runs writers closed-loop writers (create, then delete, their own
// file) through clients of at most 2,000 writers each for d, calling sample
// every 500 ms.
func runLoad(t *testing.T, dc *devcluster.Cluster, writers int, d time.Duration, sample func(time.Duration)) loadResult {
	t.Helper()
	var clients []*client.Client
	for i := 0; i < writers; i += 2000 {
		c, err := client.New(t.Context(), client.Config{Endpoints: []string{dc.Etcd.Endpoint()}, Cluster: "test"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var failed atomic.Int64
	var lastErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := range writers {
		c := clients[w/2000]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			p := fmt.Sprintf("/o-%d-%d", writers, w)
			for i := 0; ctx.Err() == nil; i++ {
				op := c.Create
				if i%2 == 1 {
					op = c.Delete
				}
				t0 := time.Now()
				err := op(ctx, p)
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					failed.Add(1)
					lastErr.Store(err)
					if errors.Is(err, client.ErrExists) || errors.Is(err, client.ErrNotFound) {
						continue
					}
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	if sample != nil {
		tick := time.NewTicker(500 * time.Millisecond)
	loop:
		for {
			select {
			case <-ctx.Done():
				break loop
			case <-tick.C:
				sample(time.Since(start))
			}
		}
		tick.Stop()
	}
	wg.Wait()
	took := time.Since(start)
	slices.Sort(lat)
	r := loadResult{ops: len(lat), failed: int(failed.Load()), rate: float64(len(lat)) / took.Seconds()}
	if e, ok := lastErr.Load().(error); ok {
		r.lastErr = e
	}
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return r
}
