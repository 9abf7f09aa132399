// Package pki makes and checks the appliance's certificate authority: the
// CA the Data Plane API's server certificate is signed with, and that the
// control plane is given to trust. It is pure but for the randomness of a
// new key.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// Validity of a generated CA: ten years, as the old appliance's new-ca.sh.
const Validity = 10 * 365 * 24 * time.Hour

// NewCA returns a self-signed CA certificate and its private key (ECDSA
// P-256, PKCS #8), both PEM. commonName names the appliance.
func NewCA(commonName string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, err
	}
	ski := sha1.Sum(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"anyip appliance CA"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski[:],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), crypto.Signer(key))
	if err != nil {
		return nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), nil
}

// CheckPair reports whether key belongs to cert and cert is a CA. The
// error never holds key material.
func CheckPair(certPEM, keyPEM []byte) error {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return errors.New("the key does not belong to the certificate, or one of them is not PEM")
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return fmt.Errorf("the certificate does not parse: %v", err)
	}
	if !c.IsCA {
		return errors.New("the certificate is not a CA (basicConstraints CA:TRUE)")
	}
	return nil
}

// ServerValidity of a server certificate: two years, renewed by first
// boot a month before it ends.
const ServerValidity = 2 * 365 * 24 * time.Hour

// NewServer returns a server certificate for names and ips signed by the
// CA, and its key (ECDSA P-256, PKCS #8), both PEM: what the Data Plane
// API serves, as the old appliance's new-cert.sh made it.
func NewServer(caCertPEM, caKeyPEM []byte, names []string, ips []net.IP, now time.Time) (certPEM, keyPEM []byte, err error) {
	ca, err := tls.X509KeyPair(caCertPEM, caKeyPEM)
	if err != nil {
		return nil, nil, errors.New("the CA's key does not belong to its certificate")
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	cn := "localhost"
	if len(names) > 0 {
		cn = names[0]
	}
	end := now.Add(ServerValidity)
	if caCert.NotAfter.Before(end) {
		end = caCert.NotAfter // a certificate cannot outlive its CA usefully
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     end,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), ca.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), nil
}

// ServerCurrent reports whether a server certificate and key are a pair,
// signed by the CA, valid for a month more at least (or as long as the CA
// is), and for exactly names and ips: otherwise first boot makes a new one.
func ServerCurrent(certPEM, keyPEM, caCertPEM []byte, names []string, ips []net.IP, now time.Time) bool {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return false
	}
	b, _ := pem.Decode(caCertPEM)
	if b == nil {
		return false
	}
	ca, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return false
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return false
	}
	if soon := now.Add(30 * 24 * time.Hour); c.NotAfter.Before(soon) && c.NotAfter.Before(ca.NotAfter) {
		return false
	}
	if !slices.Equal(c.DNSNames, names) || len(c.IPAddresses) != len(ips) {
		return false
	}
	for i := range ips {
		if !c.IPAddresses[i].Equal(ips[i]) {
			return false
		}
	}
	return true
}
