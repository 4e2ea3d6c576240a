// Command master runs and operates a GFS-style HA metadata master group.
// See the README for the commands; `master --help` lists them.
package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

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
	fmt.Fprintf(os.Stderr, "master: %s\n", userMessage(err))
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, config.ErrInvalid) {
		os.Exit(2)
	}
	os.Exit(1)
}

// internalPrefix matches the package prefixes of sentinel errors
// ("meta: invalid path"), which are for code, not for the person reading.
var internalPrefix = regexp.MustCompile(`(^|: )(meta|client|ctl|cluster|drill|node|walship|chunkmaster|chunkserver|election|fencing|hooks|rpcserver): `)

// userMessage is err's text without internal package prefixes and without
// a part repeated right after itself ("x: not found: not found").
func userMessage(err error) string {
	msg := err.Error()
	for {
		next := internalPrefix.ReplaceAllString(msg, "$1")
		if next == msg {
			break
		}
		msg = next
	}
	parts := strings.Split(msg, ": ")
	out := parts[:0]
	for i, p := range parts {
		if i > 0 && p == parts[i-1] {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ": ")
}
