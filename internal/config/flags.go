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
			fs.String(name, strconv.Itoa(def), d.usage)
		case kindDuration:
			def, _ := d.def.(time.Duration)
			fs.String(name, def.String(), d.usage)
		case kindStrings:
			def, _ := d.def.([]string)
			fs.StringSlice(name, def, d.usage)
		}
	}
}
