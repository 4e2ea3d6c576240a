package maelstrom

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Field is one member of an ordered JSON object.
type Field struct {
	Key   string
	Value any
}

// Object is a JSON object whose members are written in the order given.
type Object []Field

// Marshal encodes v the way Python's json.dumps does with its defaults:
// separators ", " and ": ", non-ASCII and control characters escaped as
// \uXXXX (lower-case hex, surrogate pairs above U+FFFF), floats written as
// Python's repr writes them (450.0, 12.4, 1e+16, 1.5e-05).
//
// v may be nil, bool, string, int, int64, uint64, float64 (finite), Object,
// []string or []any of these. Anything else, and NaN or an infinity (which
// Python would write as bare NaN/Infinity, not JSON), is an error wrapping
// ErrUnsupported.
func Marshal(v any) ([]byte, error) {
	return appendValue(nil, v)
}

func appendValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case string:
		return appendString(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case float64:
		s, err := pyFloat(v)
		if err != nil {
			return dst, err
		}
		return append(dst, s...), nil
	case Object:
		dst = append(dst, '{')
		for i, f := range v {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendString(dst, f.Key)
			dst = append(dst, ": "...)
			var err error
			if dst, err = appendValue(dst, f.Value); err != nil {
				return dst, fmt.Errorf("%s: %w", f.Key, err)
			}
		}
		return append(dst, '}'), nil
	case []string:
		dst = append(dst, '[')
		for i, s := range v {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			dst = appendString(dst, s)
		}
		return append(dst, ']'), nil
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ", "...)
			}
			var err error
			if dst, err = appendValue(dst, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	default:
		return dst, fmt.Errorf("%w: %T", ErrUnsupported, v)
	}
}

const hexDigits = "0123456789abcdef"

// appendString writes s as Python's json.dumps(ensure_ascii=True) does.
// Bytes that are not UTF-8 cannot occur in a Python string; they are
// written as U+FFFD, as encoding/json decodes them.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"':
			dst = append(dst, `\"`...)
		case r == '\\':
			dst = append(dst, `\\`...)
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r == '\b':
			dst = append(dst, `\b`...)
		case r == '\f':
			dst = append(dst, `\f`...)
		case r >= 0x20 && r < 0x7f:
			dst = append(dst, byte(r))
		case r < 0x10000:
			dst = appendU(dst, r)
		default:
			r -= 0x10000
			dst = appendU(dst, 0xd800+(r>>10))
			dst = appendU(dst, 0xdc00+(r&0x3ff))
		}
	}
	return append(dst, '"')
}

func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

// pyFloat writes f as Python's repr(float) does: the shortest digits that
// read back as f, in positional notation when the decimal exponent is in
// [-4, 16) (always with a fractional part: 450.0), else in exponent
// notation with a signed exponent of at least two digits (1e+16, 1.5e-05).
func pyFloat(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("%w: %v is not a JSON number", ErrUnsupported, f)
	}
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0", nil
		}
		return "0.0", nil
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // "-1.2345e+02"
	mant, expPart, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expPart)
	sign := ""
	if mant[0] == '-' {
		sign, mant = "-", mant[1:]
	}
	digits := strings.Replace(mant, ".", "", 1)
	var b strings.Builder
	b.WriteString(sign)
	switch {
	case exp >= 16 || exp < -4:
		b.WriteByte(digits[0])
		if len(digits) > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('e')
		if exp < 0 {
			b.WriteByte('-')
			exp = -exp
		} else {
			b.WriteByte('+')
		}
		if exp < 10 {
			b.WriteByte('0')
		}
		b.WriteString(strconv.Itoa(exp))
	case exp >= 0:
		if len(digits) <= exp+1 {
			b.WriteString(digits)
			b.WriteString(strings.Repeat("0", exp+1-len(digits)))
			b.WriteString(".0")
		} else {
			b.WriteString(digits[:exp+1])
			b.WriteByte('.')
			b.WriteString(digits[exp+1:])
		}
	default:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -exp-1))
		b.WriteString(digits)
	}
	return b.String(), nil
}

// millis is a duration figure in milliseconds for a reply: a whole number
// is written as an integer (0, not 0.0, as the seed writes its figures),
// anything else as a float with at most microsecond precision.
func millis(ms float64) any {
	ms = math.Round(ms*1000) / 1000
	if ms == math.Trunc(ms) && math.Abs(ms) < 1<<53 {
		return int64(ms)
	}
	return ms
}
