package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/gfsha/master/internal/config"
)

// fileError is a TLS file that cannot be used. Its text starts with the key
// and names the file; it never holds the file's contents.
type fileError struct {
	key  string // "tls.cert", or "tls.cert and tls.key" for a pair
	path string // the file, or "a and b" for a pair
	msg  string
	err  error // the cause; may be nil
}

func (e *fileError) Error() string { return e.key + ": " + e.path + ": " + e.msg }

func (e *fileError) Unwrap() []error {
	if e.err == nil {
		return []error{config.ErrInvalid}
	}
	return []error{config.ErrInvalid, e.err}
}

// readFile reads the file that key names.
func readFile(key, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = "cannot read it: " + pe.Err.Error()
		}
		return nil, &fileError{key: key, path: path, msg: msg, err: err}
	}
	return b, nil
}

// certPool reads a CA bundle: one or more PEM certificates.
func certPool(key, path string) (*x509.CertPool, error) {
	b, err := readFile(key, path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, &fileError{key: key, path: path, msg: "holds no PEM certificate (want a CA bundle: -----BEGIN CERTIFICATE-----)"}
	}
	return pool, nil
}

// keyPair reads a certificate and its private key and checks that they
// match and that the certificate is valid now.
func keyPair(certKey, certPath, keyKey, keyPath string, now time.Time) (tls.Certificate, error) {
	if certPath == "" || keyPath == "" {
		return tls.Certificate{}, &fileError{key: certKey + " and " + keyKey, path: "(" + certPath + ", " + keyPath + ")", msg: "set both or neither"}
	}
	certPEM, err := readFile(certKey, certPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readFile(keyKey, keyPath)
	if err != nil {
		return tls.Certificate{}, err
	}
	kp, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls's messages name the problem, never the key's bytes.
		return tls.Certificate{}, &fileError{key: certKey + " and " + keyKey, path: certPath + " and " + keyPath, msg: err.Error(), err: err}
	}
	leaf := kp.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(kp.Certificate[0]); err != nil {
			return tls.Certificate{}, &fileError{key: certKey, path: certPath, msg: err.Error(), err: err}
		}
	}
	switch {
	case now.After(leaf.NotAfter):
		return tls.Certificate{}, &fileError{key: certKey, path: certPath,
			msg: fmt.Sprintf("certificate expired at %s (renew it)", leaf.NotAfter.UTC().Format(time.RFC3339))}
	case now.Before(leaf.NotBefore):
		return tls.Certificate{}, &fileError{key: certKey, path: certPath,
			msg: fmt.Sprintf("certificate not valid before %s (check this machine's clock)", leaf.NotBefore.UTC().Format(time.RFC3339))}
	}
	return kp, nil
}
