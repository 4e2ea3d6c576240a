package maelstrom

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

// Every want below is what Python 3's json.dumps printed for the same value.
func TestMarshalStrings(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"ascii", "hello", `"hello"`},
		{"empty", "", `""`},
		{"quote and backslash, slash kept", `a"b\c/d`, `"a\"b\\c/d"`},
		{"controls", "\n\r\t\b\f\x00\x1f\x7f", `"\n\r\t\b\f\u0000\u001f\u007f"`},
		{"latin", "café", `"caf\u00e9"`},
		{"cjk", "世界", `"\u4e16\u754c"`},
		{"astral as surrogate pair", "😀", `"\ud83d\ude00"`},
		{"last BMP rune", "\uffff", `"\uffff"`},
		{"invalid UTF-8 as U+FFFD", "a\xffb", `"a\ufffdb"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(tt.in)
			if err != nil {
				t.Fatalf("Marshal(%q) error: %v", tt.in, err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal(%q) = %s; want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestMarshalFloatsLikePythonRepr(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{450, "450.0"},
		{100, "100.0"},
		{12.4, "12.4"},
		{0.869, "0.869"},
		{-2.5, "-2.5"},
		{1234.5678, "1234.5678"},
		{0.30000000000000004, "0.30000000000000004"}, // 0.1+0.2 at run time
		{1e16, "1e+16"},
		{9999999999999998, "9999999999999998.0"},
		{123456789012345678, "1.2345678901234568e+17"},
		{1e22, "1e+22"},
		{1.7976931348623157e308, "1.7976931348623157e+308"},
		{0.0001, "0.0001"},
		{0.00012345, "0.00012345"},
		{1.5e-05, "1.5e-05"},
		{5e-324, "5e-324"},
	}
	for _, tt := range tests {
		got, err := Marshal(tt.in)
		if err != nil {
			t.Errorf("Marshal(%v) error: %v", tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("Marshal(%v) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

func TestMarshalObjectKeepsOrderAndSeparators(t *testing.T) {
	v := Object{
		{"src", "n1"}, {"dest", "c0"},
		{"body", Object{
			{"type", "x"},
			{"list", []any{"a", 1, nil, true, false, 2.0, []any{}}},
			{"o", Object{}},
		}},
	}
	want := `{"src": "n1", "dest": "c0", "body": {"type": "x", "list": ["a", 1, null, true, false, 2.0, []], "o": {}}}`
	got, err := Marshal(v)
	if err != nil {
		t.Fatalf("Marshal error: %v", err)
	}
	if string(got) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", got, want)
	}
	// Keys are written in the order given, not sorted.
	got, _ = Marshal(Object{{"z", int64(-1)}, {"a", uint64(18446744073709551615)}, {"m", []string{"é"}}})
	if want := `{"z": -1, "a": 18446744073709551615, "m": ["\u00e9"]}`; string(got) != want {
		t.Errorf("Marshal = %s; want %s", got, want)
	}
}

func TestMarshalRejectsWhatIsNotJSON(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), math.Inf(-1), struct{}{}, float32(1), Object{{"k", map[string]int{}}}} {
		got, err := Marshal(v)
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("Marshal(%#v) = %s, %v; want ErrUnsupported", v, got, err)
		}
	}
}

func TestMillis(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{200, "200"},
		{450.0004, "450"},
		{0.869, "0.869"},
		{12.3456, "12.346"},
		{1.0000001, "1"},
	}
	for _, tt := range tests {
		got, err := Marshal(millis(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("Marshal(millis(%v)) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func ExampleMarshal() {
	b, _ := Marshal(Object{
		{"src", "n1"}, {"dest", "c0"},
		{"body", Object{{"type", "init_ok"}, {"in_reply_to", 1}, {"msg_id", 0}}},
	})
	fmt.Println(string(b))
	// Output:
	// {"src": "n1", "dest": "c0", "body": {"type": "init_ok", "in_reply_to": 1, "msg_id": 0}}
}
