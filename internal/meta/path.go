package meta

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Path limits enforced by ValidatePath.
const (
	// MaxPathLen is the longest valid path, in bytes.
	MaxPathLen = 4096
	// MaxNameLen is the longest valid path element, in bytes.
	MaxNameLen = 255
)

// maxShownPath bounds how much of a path an error message quotes, so that the
// messages kept in the dedup table stay small.
const maxShownPath = 256

// ValidatePath checks the syntax of p only (it does not look at any state):
// p must be absolute, with no empty, "." or ".." elements, no trailing slash
// except for "/" itself, no NUL byte, no element longer than MaxNameLen bytes
// and at most MaxPathLen bytes in all. Such a path is already clean:
// path.Clean(p) == p. The error names the path and how to fix it, and wraps
// ErrInvalidPath.
func ValidatePath(p string) error {
	if problem := pathProblem(p); problem != "" {
		return fmt.Errorf("path %s: %s: %w", showPath(p), problem, ErrInvalidPath)
	}
	return nil
}

// pathProblem returns what is wrong with p and how to fix it, or "" if p is
// valid.
func pathProblem(p string) string {
	switch {
	case p == "":
		return "path is empty; give an absolute path such as /dir/file"
	case len(p) > MaxPathLen:
		return fmt.Sprintf("path is %d bytes long; the limit is %d", len(p), MaxPathLen)
	case p[0] != '/':
		return "path must be absolute (start with /)"
	case p == "/":
		return ""
	case p[len(p)-1] == '/':
		return "path must not end with /; remove the trailing slash"
	case strings.IndexByte(p, 0) >= 0:
		return "path contains a NUL byte; remove it"
	}
	for rest := p[1:]; ; {
		elem, tail, more := strings.Cut(rest, "/")
		if problem := nameProblem(elem); problem != "" {
			return problem
		}
		if !more {
			return ""
		}
		rest = tail
	}
}

// nameProblem returns what is wrong with a single path element, or "".
// It does not check for NUL; pathProblem does that once for the whole path.
func nameProblem(elem string) string {
	switch {
	case elem == "":
		return "path has an empty element (//); use a single slash between elements"
	case elem == "." || elem == "..":
		return fmt.Sprintf("path has a %q element; give the cleaned path", elem)
	case len(elem) > MaxNameLen:
		return fmt.Sprintf("element %s is %d bytes long; the limit is %d", showPath(elem), len(elem), MaxNameLen)
	}
	return ""
}

// showPath renders p for an error message: as is when it is short, printable
// UTF-8, quoted otherwise, and cut after maxShownPath bytes.
func showPath(p string) string {
	cut := false
	if len(p) > maxShownPath {
		n := maxShownPath
		for n > 0 && !utf8.RuneStart(p[n]) {
			n--
		}
		p, cut = p[:n], true
	}
	plain := utf8.ValidString(p)
	for i := 0; plain && i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			plain = false
		}
	}
	if !plain {
		p = strconv.Quote(p)
	}
	if cut {
		p += "..."
	}
	return p
}

// ValidateNewPath is ValidatePath plus the rules for a name about to be
// created (create, mkdir, the destination of a rename): every byte must be
// valid UTF-8 and no character a control character (C0 including tab and
// newline, DEL, or C1 U+0080..U+009F), which would break listings and
// terminals. The error names the byte offset of the first such character
// and wraps ErrInvalidPath.
//
// Names already in the namespace are not held to it (a log written before
// this rule replays as it did, and such names can still be listed, removed
// or renamed to a valid one); only new names are.
func ValidateNewPath(p string) error {
	if err := ValidatePath(p); err != nil {
		return err
	}
	if problem := charProblem(p); problem != "" {
		return fmt.Errorf("path %s: %s: %w", showPath(p), problem, ErrInvalidPath)
	}
	return nil
}

// ValidateUTF8 reports a path that is not valid UTF-8 (which cannot even be
// sent in a request), naming the byte offset; it wraps ErrInvalidPath.
func ValidateUTF8(p string) error {
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRuneInString(p[i:])
		if r == utf8.RuneError && size <= 1 {
			return fmt.Errorf("path %s: byte %d (0x%02x) is not valid UTF-8; paths must be UTF-8: %w", showPath(p), i, p[i], ErrInvalidPath)
		}
		i += size
	}
	return nil
}

// charProblem returns what is wrong with the characters of a new path, or "".
func charProblem(p string) string {
	for i := 0; i < len(p); {
		r, size := utf8.DecodeRuneInString(p[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return fmt.Sprintf("byte %d (0x%02x) is not valid UTF-8; names must be UTF-8", i, p[i])
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return fmt.Sprintf("byte %d is the control character %U; names may not contain control characters (tab, newline, DEL, ...): remove it", i, r)
		}
		i += size
	}
	return ""
}

// parentLen returns the length of the parent directory of the valid, non-root
// path p ("/a/b" -> 2, "/a" -> 0 meaning the root).
func parentLen(p string) int {
	return strings.LastIndexByte(p, '/')
}

// parentOf returns the parent directory of the valid, non-root path p.
func parentOf(p string) string {
	if i := parentLen(p); i > 0 {
		return p[:i]
	}
	return "/"
}

// inSubtree reports whether p lies strictly below dir (both valid paths).
func inSubtree(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}
