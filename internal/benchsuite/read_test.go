package benchsuite

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"
)

var readsBench = flag.Bool("reads.bench", false, "measure the read figures alone (fsync on, 2 s per point) and print them")

// TestReadFigures prints the read figures without the rest of the suite:
//
//	go test -run TestReadFigures -reads.bench -v ./internal/benchsuite
func TestReadFigures(t *testing.T) {
	if !*readsBench {
		t.Skip("set -reads.bench to measure")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	o := Quick()
	o.Dir = t.TempDir()
	o.Progress = os.Stderr
	e, err := startEnv(ctx, o, o.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	res := &Result{}
	if err := e.reads(ctx, res); err != nil {
		t.Fatal(err)
	}
	if err := ReadTable(os.Stdout, res.Reads); err != nil {
		t.Fatal(err)
	}
}
