package fencing

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestHighestRefusesOlderAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	h, err := OpenHighest(path)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		tok  Token
		want error
	}{
		{"first token", 10, nil},
		{"same token", 10, nil},
		{"newer token", 12, nil},
		{"older token", 11, ErrStaleToken},
		{"no token", 0, ErrNoToken},
	}
	for _, s := range steps {
		if err := h.Observe(s.tok); !errors.Is(err, s.want) {
			t.Errorf("%s: Observe(%d) = %v; want %v", s.name, s.tok, err, s.want)
		}
	}
	// Restart: the guard must remember 12.
	h2, err := OpenHighest(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h2.Current(), Token(12); got != want {
		t.Fatalf("after reopen Current() = %d; want %d", got, want)
	}
	err = h2.Observe(11)
	if !errors.Is(err, ErrStaleToken) {
		t.Fatalf("after reopen Observe(11) = %v; want ErrStaleToken", err)
	}
	if got, want := err.Error(), "token 11 is older than token 12 already seen (a newer primary exists; follow it): fencing: stale token"; got != want {
		t.Errorf("error = %q; want %q", got, want)
	}
}

func TestHighestCorruptFileIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenHighest(path); err == nil {
		t.Fatal("OpenHighest of a corrupt file succeeded; it must refuse to forget a token")
	}
}
