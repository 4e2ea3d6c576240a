package drill

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// The model: each file of the drill is a partition whose state is whether
// it exists. A create of a missing file succeeds and makes it exist; a
// create of an existing one answers "exists"; a stat answers whether it
// exists. A create with no definite answer (outUnknown) may or may not
// have been applied.

type opKind uint8

const (
	kindCreate opKind = iota + 1
	kindStat
)

type input struct {
	File string
	Kind opKind
}

// Outputs.
const (
	outOK      = "ok"      // create applied
	outExists  = "exists"  // create refused: the file exists; or stat: present
	outMissing = "missing" // stat: absent
	outUnknown = "unknown" // create: no definite answer
)

var model = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byFile := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			f := op.Input.(input).File
			if _, ok := byFile[f]; !ok {
				order = append(order, f)
			}
			byFile[f] = append(byFile[f], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, f := range order {
			out = append(out, byFile[f])
		}
		return out
	},
	Init: func() any { return false },
	Step: func(state, in, out any) (bool, any) {
		exists := state.(bool)
		o := out.(string)
		switch in.(input).Kind {
		case kindCreate:
			switch o {
			case outOK:
				return !exists, true
			case outExists:
				return exists, exists
			default: // unknown: applied or not
				return true, true
			}
		case kindStat:
			return (o == outExists) == exists, exists
		}
		return false, state
	},
	Equal: func(a, b any) bool { return a.(bool) == b.(bool) },
	DescribeOperation: func(in, out any) string {
		i := in.(input)
		return fmt.Sprintf("%s %s -> %s", map[opKind]string{kindCreate: "create", kindStat: "stat"}[i.Kind], i.File, out)
	},
}
