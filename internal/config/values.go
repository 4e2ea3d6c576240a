package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The as* functions take a raw value as viper returns it (typed from the
// file, the defaults and typed flags; a string from the environment and
// string flags) and either convert it or say what is wrong with it, the
// value first: `"ten" is not a duration (use e.g. 10s)`. Strings are parsed
// strictly; nothing is coerced that the user could have meant otherwise.

func asString(v any) (string, string) {
	switch v := v.(type) {
	case string:
		return v, ""
	case bool, int, int64, uint64, float64:
		return "", fmt.Sprintf("%v is not a string (quote it: %q)", v, fmt.Sprint(v))
	case time.Time:
		return "", formatValue(v) + " is a date, not a string (quote it)"
	}
	return "", formatValue(v) + " is not a string"
}

func asBool(v any) (bool, string) {
	switch v := v.(type) {
	case bool:
		return v, ""
	case string:
		if b, err := strconv.ParseBool(v); err == nil {
			return b, ""
		}
	}
	return false, formatValue(v) + " is not a bool (use true or false)"
}

func asInt(v any) (int, string) {
	switch v := v.(type) {
	case int:
		return v, ""
	case int64:
		if v >= math.MinInt && v <= math.MaxInt {
			return int(v), ""
		}
	case uint64:
		if v <= math.MaxInt {
			return int(v), ""
		}
	case string:
		if n, err := strconv.Atoi(v); err == nil {
			return n, ""
		}
	}
	return 0, formatValue(v) + " is not an integer (use decimal digits, e.g. 4096)"
}

func asDuration(v any) (time.Duration, string) {
	switch v := v.(type) {
	case time.Duration:
		return v, ""
	case string:
		if d, err := time.ParseDuration(v); err == nil {
			return d, ""
		}
	}
	return 0, formatValue(v) + " is not a duration (use e.g. 10s)"
}

// asStrings accepts a list of strings, or one string of comma-separated
// items (the environment, a flag). Items are trimmed of spaces; an empty
// item is an error, an empty list is not (the caller decides).
func asStrings(v any) ([]string, string) {
	var items []string
	switch v := v.(type) {
	case []string:
		items = append(items, v...)
	case []any:
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Sprintf("%s is not a list of strings (%s is not a string)", formatValue(v), formatValue(e))
			}
			items = append(items, s)
		}
	case string:
		if strings.TrimSpace(v) == "" {
			return nil, ""
		}
		items = strings.Split(v, ",")
	default:
		return nil, formatValue(v) + " is not a list (use e.g. [127.0.0.1:2379] or a comma-separated string)"
	}
	for i, s := range items {
		items[i] = strings.TrimSpace(s)
		if items[i] == "" {
			return nil, formatValue(v) + " has an empty item"
		}
	}
	return items, ""
}
