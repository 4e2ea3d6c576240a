package e2e

import "flag"

// timing turns on the end-to-end tests' timing assertions, which a loaded
// machine can miss (chunkservers re-attach within 1 s of a new primary
// serving; a resumed paused primary answers within 2 s):
// go test ./test/e2e -e2e.timing. A default run logs the figures.
var timing = flag.Bool("e2e.timing", false, "also assert how fast things happen (re-attach within 1 s, a resumed primary's first answer within 2 s)")
