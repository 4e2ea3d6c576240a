package incarnation

import (
	"errors"
	"slices"
	"testing"
)

func TestSecondLockRefused(t *testing.T) {
	dir := t.TempDir()
	d, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(dir); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock(%s) = %v; want ErrLocked", dir, err)
	}
	d.Close()
	d.Close() // twice is fine
	d2, err := Lock(dir)
	if err != nil {
		t.Fatalf("Lock after Close: %v", err)
	}
	d2.Close()
}

func TestLeasesOfDeadIncarnation(t *testing.T) {
	dir := t.TempDir()
	d, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Previous(); len(got) != 0 {
		t.Fatalf("Previous() of a fresh dir = %v; want none", got)
	}
	for _, l := range []int64{7, 9} {
		if err := d.Record(l); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Forget(7); err != nil {
		t.Fatal(err)
	}
	d.Close() // as the kernel does when the process dies

	d2, err := Lock(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if got, want := d2.Previous(), []int64{9}; !slices.Equal(got, want) {
		t.Fatalf("Previous() = %v; want %v", got, want)
	}
	if !d2.Mine(9) || d2.Mine(7) {
		t.Errorf("Mine(9), Mine(7) = %v, %v; want true, false", d2.Mine(9), d2.Mine(7))
	}
}
