package config

import (
	"fmt"
	"strings"
	"time"
)

// keyError is a bad value of one key. Its text starts with the key.
type keyError struct {
	key    string
	msg    string // what is wrong and how to fix it
	source string // where the value came from ("--listen", "MASTER_LISTEN", "in config.yaml"); may be empty
}

func (e *keyError) Error() string {
	s := e.key + ": " + e.msg
	if e.source != "" {
		s += "; set " + e.source
	}
	return s
}

func (e *keyError) Unwrap() error { return ErrInvalid }

// fileError is a config file that cannot be read or parsed.
type fileError struct {
	path string
	msg  string
	err  error // the cause, e.g. fs.ErrNotExist; may be nil
}

func (e *fileError) Error() string { return e.path + ": " + e.msg }

func (e *fileError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.err}
}

// errorList is several errors reported on one line, separated by "; ".
type errorList []error

func (l errorList) Error() string {
	parts := make([]string, len(l))
	for i, err := range l {
		parts[i] = err.Error()
	}
	return strings.Join(parts, "; ")
}

func (l errorList) Unwrap() []error { return l }

// join returns nil, the only error, or an errorList.
func join(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errorList(errs)
}

// formatValue writes a value the way the user wrote it: strings quoted, lists
// in brackets.
func formatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("%q", v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = formatValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []string:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = formatValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any, map[any]any:
		return "a mapping"
	case time.Time:
		return v.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}
