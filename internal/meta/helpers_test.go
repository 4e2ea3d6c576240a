package meta

import (
	"fmt"
	"strings"
	"testing"
)

// mustApply applies ops as the next entries of s and fails the test if any
// of them fails.
func mustApply(t testing.TB, s *State, ops ...Op) {
	t.Helper()
	for _, op := range ops {
		if res := s.Apply(s.AppliedIndex()+1, op); res.Err != nil {
			t.Fatalf("Apply(%+v) = %v; want success", op, res.Err)
		}
	}
}

// apply applies op as the next entry of s.
func apply(s *State, op Op) Result {
	return s.Apply(s.AppliedIndex()+1, op)
}

// dump renders the whole tree, through the public read API, one line per
// entry in sorted order: "/a/" for a directory, "/a/f 10 [1:1 2:3]" for a
// file of size 10 with chunks 1 (version 1) and 2 (version 3).
func dump(t testing.TB, s *State) string {
	t.Helper()
	var b strings.Builder
	var walk func(dir string)
	walk = func(dir string) {
		entries, err := s.List(dir)
		if err != nil {
			t.Fatalf("List(%q) = %v", dir, err)
		}
		for _, e := range entries {
			if e.Dir {
				fmt.Fprintf(&b, "%s/\n", e.Path)
				walk(e.Path)
				continue
			}
			fmt.Fprintf(&b, "%s %d %v\n", e.Path, e.Size, chunkList(e.Chunks))
		}
	}
	walk("/")
	return b.String()
}

func chunkList(cs []Chunk) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%d:%d", c.Handle, c.Version)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// lines joins tree lines as dump writes them.
func lines(ls ...string) string {
	if len(ls) == 0 {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}

// sentinelName names the sentinel err wraps, for messages.
func sentinelName(err error) string {
	if err == nil {
		return "<nil>"
	}
	return sentinels[errCode(err)-1].Error()
}
