package meta

import (
	"errors"
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
