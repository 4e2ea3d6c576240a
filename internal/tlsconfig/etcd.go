package tlsconfig

import (
	"crypto/tls"
	"time"

	"github.com/gfsha/master/internal/config"
)

// Etcd is the client TLS configuration for etcd (keys etcd.tls.*), or nil
// when none of them is set (plaintext, unless an endpoint is an https://
// URL: etcd's client then verifies against the system roots).
func Etcd(t config.TLS) (*tls.Config, error) {
	if t.CA == "" && t.Cert == "" && t.Key == "" && !t.InsecureSkipVerify {
		return nil, nil
	}
	out := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CA != "" {
		pool, err := certPool("etcd.tls.ca", t.CA)
		if err != nil {
			return nil, err
		}
		out.RootCAs = pool
	}
	if t.Cert != "" || t.Key != "" {
		kp, err := keyPair("etcd.tls.cert", t.Cert, "etcd.tls.key", t.Key, time.Now())
		if err != nil {
			return nil, err
		}
		out.Certificates = []tls.Certificate{kp}
	}
	return out, nil
}
