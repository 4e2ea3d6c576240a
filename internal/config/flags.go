package config

import (
	"strconv"
	"time"

	"github.com/spf13/pflag"
)

// Flags registers on fs one flag per key (--etcd-endpoints for
// etcd.endpoints), typed after the key, with the key's meaning and default in
// its help. It does not register --config. Load reads only the flags the user
// set, so the flags' own defaults never override the environment or the file.
func Flags(fs *pflag.FlagSet) {
	for _, d := range keyDefs {
		name := flagName(d.name)
		switch d.kind {
		case kindString:
			def, _ := d.def.(string)
			fs.String(name, def, d.usage)
		case kindBool:
			def, _ := d.def.(bool)
			fs.Bool(name, def, d.usage)
		case kindInt:
			// Numbers and durations are string flags: Load parses them, so a
			// bad value gets the same error as from the file or environment,
			// naming the key (pflag's own would name only the flag).
			def, _ := d.def.(int)
			fs.Var(&typedString{s: strconv.Itoa(def), typ: "integer"}, name, d.usage)
		case kindDuration:
			def, _ := d.def.(time.Duration)
			fs.Var(&typedString{s: def.String(), typ: "duration"}, name, d.usage)
		case kindStrings:
			def, _ := d.def.([]string)
			fs.StringSlice(name, def, d.usage)
		}
	}
}

// typedString is a string flag that names its type in help ("integer",
// "duration"; not "int", which viper would cast, turning "abc" into 0): Load parses it, so a bad value gets Load's error naming the
// key.
type typedString struct{ s, typ string }

func (v *typedString) String() string     { return v.s }
func (v *typedString) Set(s string) error { v.s = s; return nil }
func (v *typedString) Type() string       { return v.typ }

// IsKeyFlag reports whether name is the flag of a configuration key, and
// that key.
func IsKeyFlag(name string) (key string, ok bool) {
	for _, d := range keyDefs {
		if flagName(d.name) == name {
			return d.name, true
		}
	}
	return "", false
}
