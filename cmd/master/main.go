// Command master runs and operates a GFS-style HA metadata master group.
// See the README for the commands; `master --help` lists them.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/gfsha/master/internal/config"
)

// usageError marks bad usage or configuration: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
	root := newRoot()
	err := root.Execute()
	if err == nil {
		return
	}
	fmt.Fprintf(os.Stderr, "master: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, config.ErrInvalid) {
		os.Exit(2)
	}
	os.Exit(1)
}
