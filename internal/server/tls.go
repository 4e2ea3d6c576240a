package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/gfsha/master/internal/config"
)

// etcdTLS builds the client TLS config from etcd.tls.*, or nil when none is set.
func etcdTLS(cfg config.Config) (*tls.Config, error) {
	t := cfg.Etcd.TLS
	if t.CA == "" && t.Cert == "" && t.Key == "" && !t.InsecureSkipVerify {
		return nil, nil
	}
	out := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("etcd.tls.ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd.tls.ca: %s holds no PEM certificate", t.CA)
		}
		out.RootCAs = pool
	}
	if (t.Cert == "") != (t.Key == "") {
		return nil, fmt.Errorf("etcd.tls.cert and etcd.tls.key: set both or neither")
	}
	if t.Cert != "" {
		kp, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("etcd.tls.cert/etcd.tls.key: %w", err)
		}
		out.Certificates = []tls.Certificate{kp}
	}
	return out, nil
}
