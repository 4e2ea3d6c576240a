package config

import (
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
			def, _ := d.def.(int)
			fs.Int(name, def, d.usage)
		case kindDuration:
			def, _ := d.def.(time.Duration)
			fs.Duration(name, def, d.usage)
		case kindStrings:
			def, _ := d.def.([]string)
			fs.StringSlice(name, def, d.usage)
		}
	}
}
