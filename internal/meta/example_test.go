package meta_test

import (
	"errors"
	"fmt"

	"github.com/gfsha/master/internal/meta"
)

func Example() {
	s := meta.New()
	// Every replica applies the same entries in the same order.
	log := []meta.Op{
		{Type: meta.OpMkdir, Path: "/logs"},
		{Type: meta.OpCreate, Path: "/logs/app.log", ClientID: "client-7", Seq: 1},
		{Type: meta.OpAddChunk, Path: "/logs/app.log"},
		{Type: meta.OpSetSize, Path: "/logs/app.log", Size: 1024},
	}
	for i, op := range log {
		res := s.Apply(uint64(i+1), op)
		if res.Err != nil {
			fmt.Println(res.Err)
		}
		if op.Type == meta.OpAddChunk {
			fmt.Printf("new chunk: handle %d, version %d\n", res.Handle, res.Version)
		}
	}

	e, err := s.Stat("/logs/app.log")
	fmt.Println(e.Path, e.Size, e.Chunks, err)

	// A second create of the same path fails, but still consumes its entry.
	res := s.Apply(5, meta.Op{Type: meta.OpCreate, Path: "/logs/app.log"})
	fmt.Println(errors.Is(res.Err, meta.ErrExists), res.Err)

	// The client's own retry of its create is answered from the dedup table.
	res = s.Apply(6, meta.Op{Type: meta.OpCreate, Path: "/logs/app.log", ClientID: "client-7", Seq: 1})
	fmt.Println(res.Err, s.AppliedIndex())

	// Output:
	// new chunk: handle 1, version 1
	// /logs/app.log 1024 [{1 1}] <nil>
	// true create /logs/app.log: path already exists: meta: exists
	// <nil> 6
}

func ExampleValidatePath() {
	for _, p := range []string{"/a/b", "a/b", "/a/../b", "/a/"} {
		fmt.Println(meta.ValidatePath(p))
	}
	// Output:
	// <nil>
	// path a/b: path must be absolute (start with /): meta: invalid path
	// path /a/../b: path has a ".." element; give the cleaned path: meta: invalid path
	// path /a/: path must not end with /; remove the trailing slash: meta: invalid path
}
