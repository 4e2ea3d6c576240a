package statuspage_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gfsha/master/internal/ctl"
	"github.com/gfsha/master/internal/devcluster"
)

// pageCluster is a two-master dev cluster with one forced failover, so the
// page has a history to draw; it returns the primary's page URL.
func pageCluster(t *testing.T) (*devcluster.Cluster, string) {
	t.Helper()
	dc := devcluster.StartT(t, 2)
	if _, err := ctl.Failover(t.Context(), dc.Masters[0].Etcd(), "test", "", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	p := dc.WaitStable(t)
	return dc, "http://" + p.HTTPAddr() + "/"
}

func get(t *testing.T, url string) (string, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b), resp
}

func TestStatusPageHTML(t *testing.T) {
	dc, url := pageCluster(t)
	body, resp := get(t, url)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	primary := dc.Primary().Node.ID()
	for _, want := range []string{`<b id="primary">` + primary + `</b>`, `data-node="n1"`, `data-node="n2"`,
		`class="role primary"`, `class="role standby"`, `<svg id="timeline"`, "revoke", `http-equiv="refresh"`, `id="chunkservers"`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The other endpoints are still there, and only / is the page.
	if b, r := get(t, url+"healthz"); r.StatusCode != 200 || b != "ok\n" {
		t.Errorf("/healthz = %d %q", r.StatusCode, b)
	}
	if _, r := get(t, url+"nothing"); r.StatusCode != 404 {
		t.Errorf("/nothing = %d; want 404", r.StatusCode)
	}
}

// TestStatusPageInChromium renders the page in headless Chromium (Debian's
// chromium package) and checks the DOM it built; the screenshot is kept in
// $GFSHA_ARTIFACTS when set.
func TestStatusPageInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if _, e := os.Stat("/usr/bin/chromium"); e != nil {
			t.Skip("chromium not installed (Debian package: chromium); skipping the headless browser test")
		}
		bin = "/usr/bin/chromium"
	}
	dc, url := pageCluster(t)
	primary := dc.Primary().Node.ID()
	outDir := os.Getenv("GFSHA_ARTIFACTS")
	if outDir == "" {
		outDir = t.TempDir()
	} else if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(outDir, "status-page.png")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
			"--user-data-dir=" + t.TempDir(), "--window-size=1280,900"}
		cmd := exec.CommandContext(ctx, bin, append(append(base, args...), url)...)
		cmd.WaitDelay = 5 * time.Second
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
		}
		return string(out)
	}
	dom := run("--dump-dom")
	for _, want := range []string{`id="members"`, `data-node="n1"`, `data-node="n2"`, `<b id="primary">` + primary + `</b>`,
		`<svg id="timeline"`, "<rect"} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM rendered by chromium lacks %q", want)
		}
	}
	run("--screenshot=" + shot)
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 1000 {
		t.Fatalf("screenshot %s: %v (size %d)", shot, err, st.Size())
	}
	t.Logf("screenshot: %s (%d bytes)", shot, st.Size())
}
