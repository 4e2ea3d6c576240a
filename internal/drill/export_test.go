package drill

import (
	"time"

	"github.com/anishathalye/porcupine"
)

// StaleReadHistory: a create acknowledged, then a stat that says missing.
func StaleReadHistory() []porcupine.Operation {
	return []porcupine.Operation{
		{ClientId: 0, Input: input{File: "/d/f", Kind: kindCreate}, Call: 0, Output: outOK, Return: 10},
		{ClientId: 1, Input: input{File: "/d/f", Kind: kindStat}, Call: 20, Output: outMissing, Return: 30},
	}
}

// Check runs the drill's model.
func Check(ops []porcupine.Operation) porcupine.CheckResult {
	return porcupine.CheckOperationsTimeout(model, ops, 10*time.Second)
}
