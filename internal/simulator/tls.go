package simulator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Certificate is a throwaway self-signed certificate for serving the
// simulators over HTTPS on loopback, as the real upstreams are served: with
// TLS, ALPN and HTTP/2 multiplexing many streams over one connection.
type Certificate struct {
	// TLS is the certificate and key for a tls.Config.
	TLS tls.Certificate
	// PEM is the certificate alone, PEM-encoded: the file a client trusts,
	// for example through SSL_CERT_FILE (which Go, curl and OpenSSL honour).
	PEM []byte
}

// NewCertificate returns a self-signed ECDSA P-256 certificate valid for a
// day for localhost, 127.0.0.1 and ::1. It is its own CA, so trusting PEM is
// all a client needs.
func NewCertificate() (*Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("simulator certificate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("simulator certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "spark simulator", Organization: []string{"spark"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("simulator certificate: %w", err)
	}
	return &Certificate{
		TLS: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// ServerConfig is a TLS configuration serving c with HTTP/2 and HTTP/1.1
// offered through ALPN.
func (c *Certificate) ServerConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{c.TLS},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}
}

// Pool is a certificate pool trusting c, for clients built in the same
// process.
func (c *Certificate) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(c.PEM)
	return p
}
