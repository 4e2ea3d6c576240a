// Package version reports what this binary is: its version, commit and
// build date (set with -ldflags "-X" at release builds, otherwise read from
// Go's build information), and the Go and etcd client versions it was built
// with. It guarantees nothing about the running cluster's versions.
package version

import (
	"runtime"
	"runtime/debug"
	"sync"

	etcdversion "go.etcd.io/etcd/api/v3/version"
)

// Set at release builds:
//
//	go build -ldflags "-X github.com/gfsha/master/internal/version.version=v1.2.0 \
//	  -X github.com/gfsha/master/internal/version.commit=abc123 \
//	  -X github.com/gfsha/master/internal/version.date=2026-01-02T03:04:05Z" ./cmd/master
var version, commit, date string

// Info is the version report of `master version -o json`, in this key order.
type Info struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	BuildDate  string `json:"build_date"`
	GoVersion  string `json:"go_version"`
	EtcdClient string `json:"etcd_client"`
	Platform   string `json:"platform"`
}

var (
	once sync.Once
	info Info
)

// Get returns this binary's Info; fields not known are "unknown".
func Get() Info {
	once.Do(func() { info = read() })
	return info
}

func read() Info {
	i := Info{Version: version, Commit: commit, BuildDate: date, GoVersion: runtime.Version(),
		EtcdClient: "v" + etcdversion.Version, Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, d := range bi.Deps {
			if d.Path == "go.etcd.io/etcd/client/v3" {
				i.EtcdClient = d.Version
			}
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if i.Commit == "" {
					i.Commit = s.Value
				}
			case "vcs.time":
				if i.BuildDate == "" {
					i.BuildDate = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if modified && i.Commit != "" && commit == "" {
			i.Commit += "-dirty"
		}
	}
	if i.Version == "" {
		i.Version = "devel"
	}
	for _, f := range []*string{&i.Commit, &i.BuildDate} {
		if *f == "" {
			*f = "unknown"
		}
	}
	return i
}
