//go:build tools

// Package tools pins modules that only tagged tests use (the fault suite's
// linearizability checker), so that `go mod tidy` keeps them.
package tools

import _ "github.com/anishathalye/porcupine"
