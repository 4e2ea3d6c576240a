package version

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
)

func TestGetFillsEveryField(t *testing.T) {
	i := Get()
	if i.GoVersion != runtime.Version() {
		t.Errorf("GoVersion = %q; want %q", i.GoVersion, runtime.Version())
	}
	for name, v := range map[string]string{"version": i.Version, "commit": i.Commit, "build_date": i.BuildDate, "etcd_client": i.EtcdClient} {
		if v == "" {
			t.Errorf("%s is empty", name)
		}
	}
	if !strings.HasPrefix(i.EtcdClient, "v3.") {
		t.Errorf("EtcdClient = %q; want v3.x", i.EtcdClient)
	}
	b, _ := json.Marshal(i)
	if !strings.HasPrefix(string(b), `{"version":`) {
		t.Errorf("JSON %s does not start with version", b)
	}
}
