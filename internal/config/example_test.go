package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gfsha/master/internal/config"
	"github.com/spf13/pflag"
)

// A command registers the flags, parses its arguments, then loads: the flag
// the user set wins over the file, and a misspelt key comes back as a warning.
func ExampleLoad() {
	dir, err := os.MkdirTemp("", "config-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "master.yaml")
	const file = `
node_id: n1
etcd:
  endpoint: [10.0.0.1:2379]
election:
  lease_ttl: 5s
`
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		panic(err)
	}

	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	config.Flags(fs)
	if err := fs.Parse([]string{"--election-lease-ttl", "3s"}); err != nil {
		panic(err)
	}
	cfg, warnings, err := config.Load(path, fs)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, w := range warnings {
		fmt.Println(strings.TrimPrefix(w, dir+string(filepath.Separator)))
	}
	fmt.Println(cfg.NodeID, cfg.DataDir, cfg.Election.LeaseTTL, cfg.Etcd.Endpoints, cfg.Prefix())
	// Output:
	// master.yaml: unknown key "etcd.endpoint" (ignored); did you mean "etcd.endpoints"?
	// n1 data/n1 3s [127.0.0.1:2379] /gfsha/default
}
