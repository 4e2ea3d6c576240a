package tlsconfig

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// reloadEvery bounds how often a Reloader looks at its files' modification
// times (at a handshake); tests shorten it.
var reloadEvery = time.Second

// Reloader serves a certificate and key read from files, and reads them
// again when either file's modification time or size changes, so that a
// renewed certificate is used from the next handshake on without a restart
// (write the key first, then the certificate). A new pair that does not
// load (half written, not matching, expired) is not used: the previous one
// stays in service and Err reports why, until the files are fixed.
type Reloader struct {
	certKey, certPath, keyKey, keyPath string

	mu      sync.Mutex // guards the fields below
	cur     *tls.Certificate
	stamp   string
	checked time.Time
	err     error
	loads   int
}

// NewReloader loads the pair once (an error names the key and the file) and
// returns a Reloader serving it.
func NewReloader(certKey, certPath, keyKey, keyPath string) (*Reloader, error) {
	r := &Reloader{certKey: certKey, certPath: certPath, keyKey: keyKey, keyPath: keyPath}
	stamp := r.stampNow()
	kp, err := keyPair(certKey, certPath, keyKey, keyPath, time.Now())
	if err != nil {
		return nil, err
	}
	r.cur, r.stamp, r.checked, r.loads = &kp, stamp, time.Now(), 1
	return r, nil
}

// stampNow describes both files' modification times and sizes.
func (r *Reloader) stampNow() string {
	s := ""
	for _, p := range []string{r.certPath, r.keyPath} {
		if fi, err := os.Stat(p); err == nil {
			s += fmt.Sprintf("%d/%d;", fi.ModTime().UnixNano(), fi.Size())
		} else {
			s += "missing;"
		}
	}
	return s
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if now.Sub(r.checked) >= reloadEvery {
		r.checked = now
		if stamp := r.stampNow(); stamp != r.stamp {
			kp, err := keyPair(r.certKey, r.certPath, r.keyKey, r.keyPath, now)
			if err != nil {
				r.err = err // keep serving the previous pair
			} else {
				r.cur, r.stamp, r.err = &kp, stamp, nil
				r.loads++
			}
		}
	}
	return r.cur, nil
}

// Err is why the newest files could not be loaded (nil when the pair in
// service is the files' current content).
func (r *Reloader) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Loads counts the pairs loaded so far (1 after NewReloader).
func (r *Reloader) Loads() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loads
}
