package meta

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// base is the tree most op cases start from:
//
//	/a/        directory
//	/a/f       file with chunk 1 (version 1), size 10
//	/a/sub/    directory
//	/a/sub/g   empty file
//	/e/        empty directory
//	/h         empty file
var base = []Op{
	{Type: OpMkdir, Path: "/a"},
	{Type: OpCreate, Path: "/a/f"},
	{Type: OpAddChunk, Path: "/a/f"},
	{Type: OpSetSize, Path: "/a/f", Size: 10},
	{Type: OpMkdir, Path: "/a/sub"},
	{Type: OpCreate, Path: "/a/sub/g"},
	{Type: OpMkdir, Path: "/e"},
	{Type: OpCreate, Path: "/h"},
}

var baseTree = lines(
	"/a/",
	"/a/f 10 [1:1]",
	"/a/sub/",
	"/a/sub/g 0 []",
	"/e/",
	"/h 0 []",
)

func TestApplyOps(t *testing.T) {
	tests := []struct {
		name    string
		op      Op
		wantErr error  // nil: the op succeeds
		want    string // the tree after a successful op
		wantRes Result // compared when the op succeeds
	}{
		{name: "noop", op: Op{Type: OpNoop}, want: baseTree},
		{name: "noop ignores fields", op: Op{Type: OpNoop, Path: "bad", Size: -1}, want: baseTree},

		{name: "mkdir", op: Op{Type: OpMkdir, Path: "/a/sub/d"},
			want: strings.Replace(baseTree, "/a/sub/g", "/a/sub/d/\n/a/sub/g", 1)},
		{name: "mkdir in root", op: Op{Type: OpMkdir, Path: "/z"}, want: baseTree + "/z/\n"},
		{name: "mkdir root", op: Op{Type: OpMkdir, Path: "/"}, wantErr: ErrExists},
		{name: "mkdir existing dir", op: Op{Type: OpMkdir, Path: "/a"}, wantErr: ErrExists},
		{name: "mkdir existing file", op: Op{Type: OpMkdir, Path: "/h"}, wantErr: ErrExists},
		{name: "mkdir missing parent", op: Op{Type: OpMkdir, Path: "/x/y"}, wantErr: ErrNotFound},
		{name: "mkdir missing grandparent", op: Op{Type: OpMkdir, Path: "/x/y/z"}, wantErr: ErrNotFound},
		{name: "mkdir under file", op: Op{Type: OpMkdir, Path: "/h/x"}, wantErr: ErrNotDir},
		{name: "mkdir under file deep", op: Op{Type: OpMkdir, Path: "/a/f/x/y"}, wantErr: ErrNotDir},
		{name: "mkdir relative", op: Op{Type: OpMkdir, Path: "a/b"}, wantErr: ErrInvalidPath},
		{name: "mkdir empty path", op: Op{Type: OpMkdir}, wantErr: ErrInvalidPath},
		{name: "mkdir trailing slash", op: Op{Type: OpMkdir, Path: "/z/"}, wantErr: ErrInvalidPath},

		{name: "create", op: Op{Type: OpCreate, Path: "/e/n"},
			want: strings.Replace(baseTree, "/e/\n", "/e/\n/e/n 0 []\n", 1)},
		{name: "create existing file", op: Op{Type: OpCreate, Path: "/a/f"}, wantErr: ErrExists},
		{name: "create existing dir", op: Op{Type: OpCreate, Path: "/e"}, wantErr: ErrExists},
		{name: "create root", op: Op{Type: OpCreate, Path: "/"}, wantErr: ErrExists},
		{name: "create missing parent", op: Op{Type: OpCreate, Path: "/x/n"}, wantErr: ErrNotFound},
		{name: "create under file", op: Op{Type: OpCreate, Path: "/h/n"}, wantErr: ErrNotDir},
		{name: "create dotdot", op: Op{Type: OpCreate, Path: "/a/../n"}, wantErr: ErrInvalidPath},
		{name: "create NUL", op: Op{Type: OpCreate, Path: "/n\x00"}, wantErr: ErrInvalidPath},

		{name: "delete file", op: Op{Type: OpDelete, Path: "/a/f"},
			want: strings.Replace(baseTree, "/a/f 10 [1:1]\n", "", 1)},
		{name: "delete empty dir", op: Op{Type: OpDelete, Path: "/e"},
			want: strings.Replace(baseTree, "/e/\n", "", 1)},
		{name: "delete non-empty dir", op: Op{Type: OpDelete, Path: "/a"}, wantErr: ErrNotEmpty},
		{name: "delete root", op: Op{Type: OpDelete, Path: "/"}, wantErr: ErrInvalidPath},
		{name: "delete missing", op: Op{Type: OpDelete, Path: "/a/x"}, wantErr: ErrNotFound},
		{name: "delete missing parent", op: Op{Type: OpDelete, Path: "/x/y"}, wantErr: ErrNotFound},
		{name: "delete under file", op: Op{Type: OpDelete, Path: "/h/x"}, wantErr: ErrNotDir},
		{name: "delete invalid", op: Op{Type: OpDelete, Path: "/a/"}, wantErr: ErrInvalidPath},

		{name: "rename file", op: Op{Type: OpRename, Path: "/a/f", Path2: "/e/f2"},
			want: lines("/a/", "/a/sub/", "/a/sub/g 0 []", "/e/", "/e/f2 10 [1:1]", "/h 0 []")},
		{name: "rename dir moves subtree", op: Op{Type: OpRename, Path: "/a", Path2: "/e/a2"},
			want: lines("/e/", "/e/a2/", "/e/a2/f 10 [1:1]", "/e/a2/sub/", "/e/a2/sub/g 0 []", "/h 0 []")},
		{name: "rename within dir", op: Op{Type: OpRename, Path: "/a/sub", Path2: "/a/b"},
			want: lines("/a/", "/a/b/", "/a/b/g 0 []", "/a/f 10 [1:1]", "/e/", "/h 0 []")},
		{name: "rename dir to its parent's level", op: Op{Type: OpRename, Path: "/a/sub", Path2: "/sub"},
			want: lines("/a/", "/a/f 10 [1:1]", "/e/", "/h 0 []", "/sub/", "/sub/g 0 []")},
		{name: "rename onto itself", op: Op{Type: OpRename, Path: "/h", Path2: "/h"}, wantErr: ErrExists},
		{name: "rename onto existing", op: Op{Type: OpRename, Path: "/h", Path2: "/a/f"}, wantErr: ErrExists},
		{name: "rename onto root", op: Op{Type: OpRename, Path: "/h", Path2: "/"}, wantErr: ErrExists},
		{name: "rename root", op: Op{Type: OpRename, Path: "/", Path2: "/r"}, wantErr: ErrInvalidMove},
		{name: "rename into own subtree", op: Op{Type: OpRename, Path: "/a", Path2: "/a/sub/a"}, wantErr: ErrInvalidMove},
		{name: "rename into own child", op: Op{Type: OpRename, Path: "/a", Path2: "/a/x"}, wantErr: ErrInvalidMove},
		{name: "rename file under itself", op: Op{Type: OpRename, Path: "/h", Path2: "/h/x"}, wantErr: ErrInvalidMove},
		{name: "rename prefix is not subtree", op: Op{Type: OpRename, Path: "/a", Path2: "/ab"},
			want: lines("/ab/", "/ab/f 10 [1:1]", "/ab/sub/", "/ab/sub/g 0 []", "/e/", "/h 0 []")},
		{name: "rename missing source", op: Op{Type: OpRename, Path: "/x", Path2: "/y"}, wantErr: ErrNotFound},
		{name: "rename missing dest parent", op: Op{Type: OpRename, Path: "/h", Path2: "/x/h"}, wantErr: ErrNotFound},
		{name: "rename dest parent is file", op: Op{Type: OpRename, Path: "/a/f", Path2: "/h/f"}, wantErr: ErrNotDir},
		{name: "rename invalid source", op: Op{Type: OpRename, Path: "h", Path2: "/x"}, wantErr: ErrInvalidPath},
		{name: "rename invalid dest", op: Op{Type: OpRename, Path: "/h", Path2: "/x/"}, wantErr: ErrInvalidPath},

		{name: "add chunk", op: Op{Type: OpAddChunk, Path: "/h"},
			want:    strings.Replace(baseTree, "/h 0 []", "/h 0 [2:1]", 1),
			wantRes: Result{Handle: 2, Version: 1}},
		{name: "add second chunk", op: Op{Type: OpAddChunk, Path: "/a/f"},
			want:    strings.Replace(baseTree, "/a/f 10 [1:1]", "/a/f 10 [1:1 2:1]", 1),
			wantRes: Result{Handle: 2, Version: 1}},
		{name: "add chunk to dir", op: Op{Type: OpAddChunk, Path: "/a"}, wantErr: ErrIsDir},
		{name: "add chunk to root", op: Op{Type: OpAddChunk, Path: "/"}, wantErr: ErrIsDir},
		{name: "add chunk missing", op: Op{Type: OpAddChunk, Path: "/x"}, wantErr: ErrNotFound},
		{name: "add chunk under file", op: Op{Type: OpAddChunk, Path: "/h/x"}, wantErr: ErrNotDir},
		{name: "add chunk invalid", op: Op{Type: OpAddChunk, Path: ""}, wantErr: ErrInvalidPath},

		{name: "set chunk version", op: Op{Type: OpSetChunkVersion, Handle: 1, Version: 5},
			want:    strings.Replace(baseTree, "[1:1]", "[1:5]", 1),
			wantRes: Result{Handle: 1, Version: 5}},
		{name: "set chunk version by one", op: Op{Type: OpSetChunkVersion, Handle: 1, Version: 2},
			want:    strings.Replace(baseTree, "[1:1]", "[1:2]", 1),
			wantRes: Result{Handle: 1, Version: 2}},
		{name: "set chunk version same", op: Op{Type: OpSetChunkVersion, Handle: 1, Version: 1}, wantErr: ErrBadChunk},
		{name: "set chunk version backwards", op: Op{Type: OpSetChunkVersion, Handle: 1, Version: 0}, wantErr: ErrBadChunk},
		{name: "set chunk version unknown", op: Op{Type: OpSetChunkVersion, Handle: 2, Version: 9}, wantErr: ErrBadChunk},
		{name: "set chunk version handle 0", op: Op{Type: OpSetChunkVersion, Handle: 0, Version: 9}, wantErr: ErrBadChunk},

		{name: "set size", op: Op{Type: OpSetSize, Path: "/h", Size: 1 << 40},
			want: strings.Replace(baseTree, "/h 0 []", "/h 1099511627776 []", 1)},
		{name: "set size zero", op: Op{Type: OpSetSize, Path: "/a/f", Size: 0},
			want: strings.Replace(baseTree, "/a/f 10", "/a/f 0", 1)},
		{name: "set size negative", op: Op{Type: OpSetSize, Path: "/h", Size: -1}, wantErr: ErrBadOp},
		{name: "set size dir", op: Op{Type: OpSetSize, Path: "/e", Size: 1}, wantErr: ErrIsDir},
		{name: "set size missing", op: Op{Type: OpSetSize, Path: "/x", Size: 1}, wantErr: ErrNotFound},

		{name: "type zero", op: Op{Type: 0, Path: "/x"}, wantErr: ErrBadOp},
		{name: "unknown type", op: Op{Type: opLast + 1, Path: "/x"}, wantErr: ErrBadOp},
		{name: "client id too long", op: Op{Type: OpCreate, Path: "/x", ClientID: strings.Repeat("c", MaxClientIDLen+1)},
			wantErr: ErrBadOp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			mustApply(t, s, base...)
			files, dirs, index := s.Files(), s.Dirs(), s.AppliedIndex()

			checkErr := s.Check(tt.op)
			res := s.Apply(index+1, tt.op)

			if !errors.Is(res.Err, tt.wantErr) || (tt.wantErr == nil) != (res.Err == nil) {
				t.Fatalf("Apply(%+v) error = %v; want %s", tt.op, res.Err, sentinelName(tt.wantErr))
			}
			if errCode(checkErr) != errCode(res.Err) {
				t.Errorf("Check(%+v) = %v; Apply gave %v", tt.op, checkErr, res.Err)
			}
			if got, want := s.AppliedIndex(), index+1; got != want {
				t.Errorf("AppliedIndex() = %d; want %d", got, want)
			}
			if tt.wantErr != nil {
				if got := dump(t, s); got != baseTree {
					t.Errorf("tree after failed %+v:\n%s\nwant unchanged:\n%s", tt.op, got, baseTree)
				}
				if s.Files() != files || s.Dirs() != dirs {
					t.Errorf("Files(), Dirs() = %d, %d after failed op; want %d, %d", s.Files(), s.Dirs(), files, dirs)
				}
				// The handle counter is unchanged too: the next chunk is 2.
				if res := apply(s, Op{Type: OpAddChunk, Path: "/h"}); res.Handle != 2 {
					t.Errorf("next chunk handle after failed op = %d; want 2", res.Handle)
				}
				return
			}
			if res != tt.wantRes {
				t.Errorf("Apply(%+v) = %+v; want %+v", tt.op, res, tt.wantRes)
			}
			if got := dump(t, s); got != tt.want {
				t.Errorf("tree after %+v:\n%s\nwant:\n%s", tt.op, got, tt.want)
			}
			var wantFiles, wantDirs int
			for _, l := range strings.Split(strings.TrimSpace(tt.want), "\n") {
				if strings.HasSuffix(l, "/") {
					wantDirs++
				} else {
					wantFiles++
				}
			}
			if s.Files() != wantFiles || s.Dirs() != wantDirs+1 {
				t.Errorf("Files(), Dirs() = %d, %d; want %d, %d", s.Files(), s.Dirs(), wantFiles, wantDirs+1)
			}
		})
	}
}

func TestFailedOpDigest(t *testing.T) {
	// A failed op and a noop at the same index leave equal states.
	failed, noop := New(), New()
	mustApply(t, failed, base...)
	mustApply(t, noop, base...)
	if res := apply(failed, Op{Type: OpCreate, Path: "/a/f"}); !errors.Is(res.Err, ErrExists) {
		t.Fatalf("create existing = %v; want ErrExists", res.Err)
	}
	mustApply(t, noop, Op{Type: OpNoop})
	if failed.Digest() != noop.Digest() {
		t.Errorf("digest after a failed op differs from digest after a noop")
	}
}

func TestApplyIndex(t *testing.T) {
	tests := []struct {
		name  string
		index uint64
		ok    bool
	}{
		{"next", 3, true},
		{"repeat", 2, false},
		{"gap", 4, false},
		{"zero", 0, false},
		{"far", 1 << 40, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			mustApply(t, s, Op{Type: OpNoop}, Op{Type: OpMkdir, Path: "/a"})
			before := s.Digest()
			res := s.Apply(tt.index, Op{Type: OpCreate, Path: "/a/f"})
			if tt.ok {
				if res.Err != nil || s.AppliedIndex() != tt.index {
					t.Errorf("Apply(%d) = %v, AppliedIndex %d; want success", tt.index, res.Err, s.AppliedIndex())
				}
				return
			}
			if !errors.Is(res.Err, ErrIndex) {
				t.Errorf("Apply(%d) = %v; want ErrIndex", tt.index, res.Err)
			}
			if got := s.Digest(); got != before {
				t.Errorf("Apply(%d) with a bad index changed the state", tt.index)
			}
			res = s.ApplyEncoded(tt.index, []byte("garbage"))
			if !errors.Is(res.Err, ErrIndex) {
				t.Errorf("ApplyEncoded(%d, garbage) = %v; want ErrIndex", tt.index, res.Err)
			}
			if got := s.Digest(); got != before {
				t.Errorf("ApplyEncoded(%d) with a bad index changed the state", tt.index)
			}
		})
	}
}

func TestApplyEncoded(t *testing.T) {
	s := New()
	if res := s.ApplyEncoded(1, Op{Type: OpMkdir, Path: "/a"}.Marshal()); res.Err != nil {
		t.Fatalf("ApplyEncoded(mkdir) = %v", res.Err)
	}
	res := s.ApplyEncoded(2, []byte{0xde, 0xad})
	if !errors.Is(res.Err, ErrBadOp) {
		t.Errorf("ApplyEncoded(garbage) = %v; want ErrBadOp", res.Err)
	}
	if got := s.AppliedIndex(); got != 2 {
		t.Errorf("AppliedIndex() after garbage = %d; want 2 (the entry is consumed)", got)
	}
	if res := s.ApplyEncoded(3, Op{Type: OpCreate, Path: "/a/f"}.Marshal()); res.Err != nil {
		t.Errorf("ApplyEncoded(create) after garbage = %v", res.Err)
	}
	if got, want := dump(t, s), lines("/a/", "/a/f 0 []"); got != want {
		t.Errorf("tree = %q; want %q", got, want)
	}
}

func TestErrorMessages(t *testing.T) {
	s := New()
	mustApply(t, s, base...)
	tests := []struct {
		op   Op
		want string
	}{
		{Op{Type: OpMkdir, Path: "a/b"}, "mkdir a/b: path must be absolute (start with /): meta: invalid path"},
		{Op{Type: OpCreate, Path: "/a/f"}, "create /a/f: path already exists: meta: exists"},
		{Op{Type: OpCreate, Path: "/x/y/z"}, "create /x/y/z: parent directory /x does not exist; create it first: meta: not found"},
		{Op{Type: OpCreate, Path: "/h/y"}, "create /h/y: /h is a file, not a directory: meta: not a directory"},
	}
	for _, tt := range tests {
		// Messages are part of the user-facing contract (they name the input
		// and the fix), so this one test compares them.
		if got := apply(s, tt.op).Err; got == nil || got.Error() != tt.want {
			t.Errorf("Apply(%+v) = %v; want %q", tt.op, got, tt.want)
		}
	}
}

func TestStat(t *testing.T) {
	s := New()
	mustApply(t, s, base...)
	tests := []struct {
		path    string
		want    Entry
		wantErr error
	}{
		{path: "/", want: Entry{Path: "/", Name: "/", Dir: true}},
		{path: "/a", want: Entry{Path: "/a", Name: "a", Dir: true}},
		{path: "/a/f", want: Entry{Path: "/a/f", Name: "f", Size: 10, Chunks: []Chunk{{1, 1}}}},
		{path: "/a/sub/g", want: Entry{Path: "/a/sub/g", Name: "g"}},
		{path: "/x", wantErr: ErrNotFound},
		{path: "/x/y", wantErr: ErrNotFound},
		{path: "/h/y", wantErr: ErrNotDir},
		{path: "a", wantErr: ErrInvalidPath},
		{path: "/a/", wantErr: ErrInvalidPath},
	}
	for _, tt := range tests {
		got, err := s.Stat(tt.path)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("Stat(%q) error = %v; want %s", tt.path, err, sentinelName(tt.wantErr))
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("Stat(%q) = %+v; want %+v", tt.path, got, tt.want)
		}
	}
	// The chunk slice is a copy.
	e, _ := s.Stat("/a/f")
	e.Chunks[0].Version = 99
	if e2, _ := s.Stat("/a/f"); e2.Chunks[0].Version != 1 {
		t.Errorf("changing Stat's Chunks changed the state")
	}
}

func TestList(t *testing.T) {
	s := New()
	mustApply(t, s, base...)
	mustApply(t, s, Op{Type: OpCreate, Path: "/a/B"}, Op{Type: OpCreate, Path: "/a/Z"})
	tests := []struct {
		path    string
		want    []string
		wantErr error
	}{
		{path: "/", want: []string{"/a", "/e", "/h"}},
		{path: "/a", want: []string{"/a/B", "/a/Z", "/a/f", "/a/sub"}},
		{path: "/e", want: []string{}},
		{path: "/h", wantErr: ErrNotDir},
		{path: "/x", wantErr: ErrNotFound},
		{path: "", wantErr: ErrInvalidPath},
	}
	for _, tt := range tests {
		entries, err := s.List(tt.path)
		if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("List(%q) error = %v; want %s", tt.path, err, sentinelName(tt.wantErr))
			continue
		}
		got := []string{}
		for _, e := range entries {
			got = append(got, e.Path)
			if !strings.HasSuffix(e.Path, "/"+e.Name) {
				t.Errorf("List(%q) entry %+v: Name is not the last element of Path", tt.path, e)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("List(%q) = %v; want %v", tt.path, got, tt.want)
		}
	}
}

func TestCounters(t *testing.T) {
	s := New()
	if s.Files() != 0 || s.Dirs() != 1 || s.AppliedIndex() != 0 {
		t.Fatalf("New(): Files %d, Dirs %d, AppliedIndex %d; want 0, 1, 0", s.Files(), s.Dirs(), s.AppliedIndex())
	}
	mustApply(t, s, base...)
	if s.Files() != 3 || s.Dirs() != 4 {
		t.Errorf("Files(), Dirs() = %d, %d; want 3, 4", s.Files(), s.Dirs())
	}
	mustApply(t, s, Op{Type: OpDelete, Path: "/a/f"}, Op{Type: OpDelete, Path: "/e"})
	if s.Files() != 2 || s.Dirs() != 3 {
		t.Errorf("after deletes Files(), Dirs() = %d, %d; want 2, 3", s.Files(), s.Dirs())
	}
	// The deleted file's chunk is gone: its handle is unknown now.
	if res := apply(s, Op{Type: OpSetChunkVersion, Handle: 1, Version: 2}); !errors.Is(res.Err, ErrBadChunk) {
		t.Errorf("set version of a deleted file's chunk = %v; want ErrBadChunk", res.Err)
	}
}

func TestRenamedFileKeepsChunks(t *testing.T) {
	s := New()
	mustApply(t, s, base...)
	mustApply(t, s,
		Op{Type: OpRename, Path: "/a", Path2: "/e/moved"},
		Op{Type: OpSetChunkVersion, Handle: 1, Version: 2},
		Op{Type: OpAddChunk, Path: "/e/moved/f"},
		Op{Type: OpDelete, Path: "/e/moved/f"},
	)
	for _, h := range []uint64{1, 2} {
		if res := apply(s, Op{Type: OpSetChunkVersion, Handle: h, Version: 9}); !errors.Is(res.Err, ErrBadChunk) {
			t.Errorf("set version of deleted chunk %d = %v; want ErrBadChunk", h, res.Err)
		}
	}
}

// TestConcurrentReads runs readers against an applier; it matters under -race.
func TestConcurrentReads(t *testing.T) {
	s := New()
	mustApply(t, s, Op{Type: OpMkdir, Path: "/d"})
	var wg sync.WaitGroup
	done := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				s.Stat("/d")
				s.List("/d")
				s.Files()
				s.Digest()
				s.Check(Op{Type: OpCreate, Path: "/d/x"})
				s.Dedup("c", 1)
				s.Snapshot(discard{})
			}
		}()
	}
	for i := 0; i < 500; i++ {
		mustApply(t, s, Op{Type: OpCreate, Path: fmt.Sprintf("/d/f%d", i), ClientID: "c", Seq: uint64(i + 1)})
	}
	close(done)
	wg.Wait()
	if s.Files() != 500 {
		t.Errorf("Files() = %d; want 500", s.Files())
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestChunkVersions(t *testing.T) {
	s := New()
	mustApply(t, s,
		Op{Type: OpCreate, Path: "/a"},
		Op{Type: OpAddChunk, Path: "/a"},
		Op{Type: OpAddChunk, Path: "/a"},
		Op{Type: OpCreate, Path: "/b"},
		Op{Type: OpAddChunk, Path: "/b"},
		Op{Type: OpSetChunkVersion, Handle: 2, Version: 5},
		Op{Type: OpDelete, Path: "/b"},
	)
	got, idx := s.ChunkVersions()
	if idx != s.AppliedIndex() || len(got) != 2 || got[1] != 1 || got[2] != 5 {
		t.Fatalf("ChunkVersions() = %v at %d; want {1:1 2:5} at %d", got, idx, s.AppliedIndex())
	}
}

func TestGrowSize(t *testing.T) {
	s := New()
	mustApply(t, s, Op{Type: OpCreate, Path: "/f"})
	for _, tt := range []struct{ grow, want int64 }{{10, 10}, {5, 10}, {10, 10}, {30, 30}} {
		mustApply(t, s, Op{Type: OpGrowSize, Path: "/f", Size: tt.grow})
		if e, err := s.Stat("/f"); err != nil || e.Size != tt.want {
			t.Errorf("after grow-size %d: size = %d, %v; want %d", tt.grow, e.Size, err, tt.want)
		}
	}
	if err := s.Check(Op{Type: OpGrowSize, Path: "/f", Size: -1}); !errors.Is(err, ErrBadOp) {
		t.Errorf("Check(grow-size -1) = %v; want ErrBadOp", err)
	}
}
