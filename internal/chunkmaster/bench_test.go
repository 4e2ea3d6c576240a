package chunkmaster_test

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gfsha/master/internal/chunkmaster"
)

// benchSize is the file each iteration moves: four 64 MiB chunks.
const benchSize = 256 << 20

// BenchmarkDataPath measures `put` and `cat` through the public client
// against an in-process master and three chunkservers whose replicas live
// on the test's disk (every chunk write fsynced on every replica), beside a
// plain copy of the same file on the same disk. With replication 3 a put
// writes every byte three times; put-r1 writes it once, like the copy.
//
//	go test -run '^$' -bench DataPath -benchtime 4x ./internal/chunkmaster/
func BenchmarkDataPath(b *testing.B) {
	dir := b.TempDir()
	local := filepath.Join(dir, "local")
	writeRandom(b, local, benchSize)
	mibs := func(b *testing.B, start time.Time) {
		b.ReportMetric(float64(b.N)*benchSize/(1<<20)/time.Since(start).Seconds(), "MiB/s")
	}
	for _, repl := range []int{3, 1} {
		cc := chunkmaster.Config{Replication: repl, ChunkSize: 64 << 20}
		e := startEnv(b, 1, 3, cc)
		b.Run(fmt.Sprintf("put-r%d", repl), func(b *testing.B) {
			b.SetBytes(benchSize)
			start := time.Now()
			for i := range b.N {
				if _, err := e.cl.PutFile(b.Context(), local, fmt.Sprintf("/put-%d", i)); err != nil {
					b.Fatal(err)
				}
			}
			mibs(b, start)
			b.StopTimer()
			for i := range b.N {
				e.cl.Delete(b.Context(), fmt.Sprintf("/put-%d", i))
			}
		})
		if repl != 3 {
			continue
		}
		if _, err := e.cl.PutFile(b.Context(), local, "/cat"); err != nil {
			b.Fatal(err)
		}
		b.Run("cat-r3-to-file", func(b *testing.B) {
			b.SetBytes(benchSize)
			start := time.Now()
			for range b.N {
				f, err := os.Create(filepath.Join(dir, "out"))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := e.cl.Cat(b.Context(), "/cat", f); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
			mibs(b, start)
		})
		b.Run("cat-r3-discard", func(b *testing.B) {
			b.SetBytes(benchSize)
			start := time.Now()
			for range b.N {
				if _, err := e.cl.Cat(b.Context(), "/cat", io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			mibs(b, start)
		})
	}
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("copy-fsync-%v", sync), func(b *testing.B) {
			b.SetBytes(benchSize)
			start := time.Now()
			for range b.N {
				copyFile(b, local, filepath.Join(dir, "copy"), sync)
			}
			mibs(b, start)
		})
	}
}

func writeRandom(b *testing.B, path string, size int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.NewChaCha8([32]byte{1}), int64(size)); err != nil {
		b.Fatal(err)
	}
}

func copyFile(b *testing.B, from, to string, sync bool) {
	src, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	if _, err := io.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	if sync {
		if err := dst.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}
