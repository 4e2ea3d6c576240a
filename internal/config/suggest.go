package config

import (
	"fmt"
	"strings"
)

// unknownKeyWarning says that key in the file at path is ignored, and names
// the known key the user most likely meant, if one is close.
func unknownKeyWarning(path, key string) string {
	w := fmt.Sprintf("%s: unknown key %q (ignored)", path, key)
	if s := suggest(key); s != "" {
		w += fmt.Sprintf("; did you mean %q?", s)
	}
	return w
}

// suggest returns the known key closest to key: one that ends with it (a
// key written outside its section, "lease_ttl" for "election.lease_ttl"),
// else the nearest by edit distance if within a third of key's length.
func suggest(key string) string {
	for _, d := range keyDefs {
		if strings.HasSuffix(d.name, "."+key) {
			return d.name
		}
	}
	best, bestDist := "", len(key)/3+1
	for _, d := range keyDefs {
		if dist := editDistance(key, d.name); dist < bestDist {
			best, bestDist = d.name, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes (keys
// are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
