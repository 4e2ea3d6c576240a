package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSONOutputIsStructs: every `-o json` prints a struct, whose keys keep
// the order of its fields, never a map (whose keys encoding/json sorts, so
// that the order would differ from the structs' elsewhere).
func TestJSONOutputIsStructs(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "printJSON(map[") {
				t.Errorf("%s:%d prints a map as JSON; print a struct (fixed key order): %s", f, i+1, strings.TrimSpace(line))
			}
		}
	}
}
