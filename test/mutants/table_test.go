package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every mutant must still apply: its Old string occurs exactly once in its
// file. A code change that moves or rewrites a guarded line fails here, in
// the default run, instead of silently disabling the mutant.
func TestEveryMutantApplies(t *testing.T) {
	root := filepath.Join("..", "..")
	names := map[string]bool{}
	for _, m := range mutants {
		if m.Name == "" || names[m.Name] {
			t.Errorf("mutant %q: empty or duplicate name", m.Name)
		}
		names[m.Name] = true
		if m.Old == m.New {
			t.Errorf("mutant %s: Old equals New", m.Name)
		}
		if _, err := regexp.Compile(m.Tests); err != nil || m.Tests == "" {
			t.Errorf("mutant %s: test regexp %q: %v", m.Name, m.Tests, err)
		}
		if !strings.HasPrefix(m.Package, "./") {
			t.Errorf("mutant %s: package %q; want a ./path relative to the module root", m.Name, m.Package)
		}
		for _, name := range strings.Split(m.Tests, "|") {
			if !testExists(t, filepath.Join(root, m.Package), name) {
				t.Errorf("mutant %s: no func %s(t *testing.T) in %s (renamed? update the mutant)", m.Name, name, m.Package)
			}
		}
		b, err := os.ReadFile(filepath.Join(root, m.File))
		if err != nil {
			t.Errorf("mutant %s: %v", m.Name, err)
			continue
		}
		if got := strings.Count(string(b), m.Old); got != 1 {
			t.Errorf("mutant %s: %q occurs %d times in %s; want exactly 1 (update the mutant's Old string to the code that now holds the guard)", m.Name, m.Old, got, m.File)
		}
	}
}

func testExists(t *testing.T, dir, name string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "func "+name+"(t *testing.T)") {
			return true
		}
	}
	return false
}
