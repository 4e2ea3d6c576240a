package benchsuite

import (
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/gfsha/master/internal/meta"
)

// filesPerDir is how many files each directory of a built namespace holds.
const filesPerDir = 1000

// BuildNamespace returns a state of files files in directories of 1,000,
// each file with one chunk and a size, as meta's BenchmarkMemoryPerFile
// builds it.
func BuildNamespace(files int) (*meta.State, error) {
	s := meta.New()
	index := uint64(0)
	apply := func(op meta.Op) error {
		index++
		if r := s.Apply(index, op); r.Err != nil {
			return fmt.Errorf("benchsuite: build namespace: %s %s: %w", op.Type, op.Path, r.Err)
		}
		return nil
	}
	var dir string
	for f := range files {
		if f%filesPerDir == 0 {
			dir = "/d" + strconv.Itoa(f/filesPerDir)
			if err := apply(meta.Op{Type: meta.OpMkdir, Path: dir}); err != nil {
				return nil, err
			}
		}
		p := dir + "/f" + strconv.Itoa(f)
		for _, op := range []meta.Op{
			{Type: meta.OpCreate, Path: p},
			{Type: meta.OpAddChunk, Path: p},
			{Type: meta.OpSetSize, Path: p, Size: 1 << 20},
		} {
			if err := apply(op); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// memory builds a namespace of files files and measures the live heap it
// adds, after a GC; it returns the state for the restart figure.
func memory(files int) (Memory, *meta.State, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s, err := BuildNamespace(files)
	if err != nil {
		return Memory{}, nil, err
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	return Memory{Files: files, BytesPerFile: float64(max(grown, 0)) / float64(files)}, s, nil
}

// walk times one read of every chunk's version, as the chunk master's
// replica scan does every ScanInterval (meta.State.ChunkVersions).
func walk(st *meta.State) (Scan, error) {
	start := time.Now()
	versions, _ := st.ChunkVersions()
	return Scan{Files: st.Files(), Chunks: len(versions), WalkMs: ms(time.Since(start))}, nil
}
