package tlsconfig

import (
	"crypto/tls"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gfsha/master/internal/config"
)

// Server is the TLS configuration of the RPC server described by t, or nil
// when t.Cert is empty (plaintext). With t.ClientCA set it requires and
// verifies client certificates.
func Server(t config.RPCTLS) (*tls.Config, error) {
	if t.Cert == "" && t.Key == "" {
		return nil, nil
	}
	rl, err := NewReloader("tls.cert", t.Cert, "tls.key", t.Key)
	if err != nil {
		return nil, err
	}
	out := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: rl.GetCertificate}
	if t.ClientCA != "" {
		pool, err := certPool("tls.client_ca", t.ClientCA)
		if err != nil {
			return nil, err
		}
		out.ClientCAs, out.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return out, nil
}

// ServerOptions are the options of a grpc.Server that serves the RPC API
// as t says: none for plaintext, else its TLS credentials.
func ServerOptions(t config.RPCTLS) ([]grpc.ServerOption, error) {
	c, err := Server(t)
	if err != nil || c == nil {
		return nil, err
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(c))}, nil
}

// Client is the TLS configuration for dialing masters and chunkservers, or
// nil when t is not [config.RPCTLS.Enabled] (plaintext). It verifies the
// server against t.CA (the system roots when empty) for t.ServerName or the
// dialed host, and presents t.ClientCert when set.
func Client(t config.RPCTLS) (*tls.Config, error) {
	if !t.Enabled() && t.ClientKey == "" {
		return nil, nil
	}
	out := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName}
	if t.CA != "" {
		pool, err := certPool("tls.ca", t.CA)
		if err != nil {
			return nil, err
		}
		out.RootCAs = pool
	}
	if t.ClientCert != "" || t.ClientKey != "" {
		kp, err := keyPair("tls.client_cert", t.ClientCert, "tls.client_key", t.ClientKey, time.Now())
		if err != nil {
			return nil, err
		}
		out.Certificates = []tls.Certificate{kp}
	}
	return out, nil
}

// ClientDialOption is the transport credentials for dialing masters and
// chunkservers: TLS from [Client], or insecure (plaintext) when t does not
// enable TLS. Pass it after any other transport credentials: the last one
// wins.
func ClientDialOption(t config.RPCTLS) (grpc.DialOption, error) {
	c, err := Client(t)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials()), nil
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(c)), nil
}

// HTTPServer is the TLS configuration of the HTTP endpoints (http_listen),
// or nil for plaintext: http.tls.cert/http.tls.key when set, else the RPC
// server's tls.cert/tls.key when http.tls.rpc_keys is true. Certificates
// are reloaded when their files change. No client certificate is asked:
// load balancers and Prometheus probe these endpoints.
func HTTPServer(h config.HTTPTLS, rpc config.RPCTLS) (*tls.Config, error) {
	var rl *Reloader
	var err error
	switch {
	case h.Cert != "" || h.Key != "":
		rl, err = NewReloader("http.tls.cert", h.Cert, "http.tls.key", h.Key)
	case h.RPCKeys:
		if rpc.Cert == "" {
			return nil, &fileError{key: "http.tls.rpc_keys", path: "(tls.cert unset)", msg: "set tls.cert and tls.key, or http.tls.cert and http.tls.key"}
		}
		rl, err = NewReloader("tls.cert", rpc.Cert, "tls.key", rpc.Key)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: rl.GetCertificate}, nil
}
