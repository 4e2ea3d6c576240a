package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// clearEnv unsets every MASTER_* variable for the test (an empty variable
// counts as unset), so the caller's environment cannot leak in.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, envPrefix+"_") {
			t.Setenv(k, "")
		}
	}
}

// setup is one Load's input: a config file (none if nil), environment and
// command-line arguments.
type setup struct {
	file *string
	env  map[string]string
	args []string
}

func yamlFile(s string) *string { return &s }

// load runs Load in a fresh directory with s's file written as config.yaml
// and passed explicitly.
func load(t *testing.T, s setup) (Config, []string, error) {
	t.Helper()
	clearEnv(t)
	dir := t.TempDir()
	t.Chdir(dir)
	for k, v := range s.env {
		t.Setenv(k, v)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	Flags(fs)
	if err := fs.Parse(s.args); err != nil {
		t.Fatalf("Parse(%q): %v", s.args, err)
	}
	path := ""
	if s.file != nil {
		path = filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte(*s.file), 0o600); err != nil {
			t.Fatal(err)
		}
		path = "config.yaml"
	}
	return Load(path, fs)
}
