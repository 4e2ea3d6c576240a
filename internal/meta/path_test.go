package meta

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestValidatePath(t *testing.T) {
	long := "/" + strings.Repeat("a", MaxNameLen)
	tests := []struct {
		name string
		path string
		ok   bool
	}{
		{"root", "/", true},
		{"one element", "/a", true},
		{"nested", "/a/b/c", true},
		{"dots inside names", "/a.b/..c/c..", true},
		{"spaces and unicode", "/my dir/ünïcødé", true},
		{"longest element", long, true},
		{"longest path", strings.Repeat("/"+strings.Repeat("x", 127), MaxPathLen/128), true},
		{"empty", "", false},
		{"relative", "a/b", false},
		{"trailing slash", "/a/", false},
		{"double slash", "/a//b", false},
		{"leading double slash", "//a", false},
		{"dot", "/a/./b", false},
		{"dotdot", "/a/../b", false},
		{"final dot", "/a/.", false},
		{"final dotdot", "/..", false},
		{"NUL", "/a\x00b", false},
		{"element too long", long + "a", false},
		{"path too long", strings.Repeat("/"+strings.Repeat("x", 127), MaxPathLen/128) + "/y", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePath(tt.path)
			if got := err == nil; got != tt.ok {
				t.Fatalf("ValidatePath(%q) = %v; want ok=%v", tt.path, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidPath) {
				t.Errorf("ValidatePath(%q) = %v; want an error wrapping ErrInvalidPath", tt.path, err)
			}
		})
	}
}

func TestShowPath(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"/a/b", "/a/b"},
		{"/a b", "/a b"},
		{"/a\x00b", `"/a\x00b"`},
		{"/\xff", `"/\xff"`},
		{strings.Repeat("é", 200), strings.Repeat("é", 128) + "..."},
	}
	for _, tt := range tests {
		if got := showPath(tt.in); got != tt.want {
			t.Errorf("showPath(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestInSubtree(t *testing.T) {
	tests := []struct {
		p, dir string
		want   bool
	}{
		{"/a/b", "/a", true},
		{"/a/b/c", "/a", true},
		{"/a", "/a", false},
		{"/ab", "/a", false},
		{"/a", "/", true},
		{"/", "/", false},
		{"/b", "/a", false},
	}
	for _, tt := range tests {
		if got := inSubtree(tt.p, tt.dir); got != tt.want {
			t.Errorf("inSubtree(%q, %q) = %v; want %v", tt.p, tt.dir, got, tt.want)
		}
	}
}

// New names (create, mkdir, rename destination) with a control character
// or invalid UTF-8 are refused by Check, naming the byte offset; names
// already in the log replay as they did, and can be removed.
func TestNewNamesRefuseControlCharacters(t *testing.T) {
	bad := []struct {
		name, path string
		offset     int
	}{
		{"tab", "/d/a\tb", 4},
		{"newline", "/d/a\nb", 4},
		{"C0", "/d/\x01", 3},
		{"unit separator", "/d/x\x1f", 4},
		{"DEL", "/d/a\x7f", 4},
		{"C1 NEL", "/d/a\u0085", 4},
		{"C1 last", "/d/\u009f", 3},
		{"invalid UTF-8", "/d/\xff", 3},
		{"truncated UTF-8", "/d/ab\xc3", 5},
		{"surrogate", "/d/\xed\xa0\x80", 3},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			st := New()
			mustApply(t, st, Op{Type: OpMkdir, Path: "/d"}, Op{Type: OpCreate, Path: "/d/ok"})
			want := fmt.Sprintf("byte %d ", tt.offset)
			for _, op := range []Op{
				{Type: OpCreate, Path: tt.path},
				{Type: OpMkdir, Path: tt.path},
				{Type: OpRename, Path: "/d/ok", Path2: tt.path},
			} {
				err := st.Check(op)
				if !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), want) {
					t.Errorf("Check(%s %q) = %v; want ErrInvalidPath naming %q", op.Type, op.Path+op.Path2, err, want)
				}
			}
			if err := ValidateNewPath(tt.path); !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), want) {
				t.Errorf("ValidateNewPath(%q) = %v; want ErrInvalidPath naming %q", tt.path, err, want)
			}
		})
	}
	for _, good := range []string{"/d/é", "/d/a b", "/d/\u00a0nbsp", "/d/日本", "/d/🙂", "/d/a~b"} {
		if err := ValidateNewPath(good); err != nil {
			t.Errorf("ValidateNewPath(%q) = %v; want nil", good, err)
		}
		st := New()
		mustApply(t, st, Op{Type: OpMkdir, Path: "/d"})
		if err := st.Check(Op{Type: OpCreate, Path: good}); err != nil {
			t.Errorf("Check(create %q) = %v; want nil", good, err)
		}
	}

	// A record logged before the rule replays as it did; the name can be
	// listed, renamed to a valid one and removed.
	st := New()
	mustApply(t, st, Op{Type: OpMkdir, Path: "/d"}, Op{Type: OpCreate, Path: "/d/a\tb"})
	if _, err := st.Stat("/d/a\tb"); err != nil {
		t.Fatalf("Stat of a replayed legacy name = %v", err)
	}
	if err := st.Check(Op{Type: OpRename, Path: "/d/a\tb", Path2: "/d/ab"}); err != nil {
		t.Fatalf("Check(rename a legacy name to a valid one) = %v; want nil", err)
	}
	if err := st.Check(Op{Type: OpDelete, Path: "/d/a\tb"}); err != nil {
		t.Fatalf("Check(delete a legacy name) = %v; want nil", err)
	}
}

func TestValidateUTF8(t *testing.T) {
	if err := ValidateUTF8("/a/\t/é"); err != nil {
		t.Errorf("ValidateUTF8 of valid UTF-8 = %v", err)
	}
	if err := ValidateUTF8("/a\xffb"); !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), "byte 2 ") {
		t.Errorf(`ValidateUTF8("/a\xffb") = %v; want ErrInvalidPath naming byte 2`, err)
	}
}
