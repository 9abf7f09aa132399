package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

func TestNewCAIsAPairAndACA(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	cert, key, err := NewCA("lb-01.example.internal", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPair(cert, key); err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(cert)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject.CommonName != "lb-01.example.internal" || !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("subject %v, CA %v, usage %v", c.Subject, c.IsCA, c.KeyUsage)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	if !c.NotAfter.After(now.Add(9 * 365 * 24 * time.Hour)) {
		t.Errorf("expires %v", c.NotAfter)
	}
	other, otherKey, _ := NewCA("x", now)
	if CheckPair(cert, otherKey) == nil || CheckPair(other, key) == nil {
		t.Error("a key of another CA was accepted")
	}
}

func TestServerCurrent(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	ca, caKey, _ := NewCA("ca", now)
	names, ips := []string{"lb", "localhost"}, []net.IP{net.IPv4(127, 0, 0, 1).To4()}
	cert, key, err := NewServer(ca, caKey, names, ips, now)
	if err != nil {
		t.Fatal(err)
	}
	if !ServerCurrent(cert, key, ca, names, ips, now) {
		t.Error("a new certificate is not current")
	}
	other, _, _ := NewCA("other", now)
	for name, ok := range map[string]bool{
		"another CA":      ServerCurrent(cert, key, other, names, ips, now),
		"another name":    ServerCurrent(cert, key, ca, []string{"lb2", "localhost"}, ips, now),
		"another address": ServerCurrent(cert, key, ca, names, []net.IP{net.IPv4(10, 0, 0, 5).To4()}, now),
		"ends in a week":  ServerCurrent(cert, key, ca, names, ips, now.Add(ServerValidity-7*24*time.Hour)),
	} {
		if ok {
			t.Errorf("%s: still current", name)
		}
	}
	// A CA that ends in a day: its certificate cannot do better, and is
	// not made again at every boot.
	short, shortKey := shortCA(t, now)
	c2, k2, err := NewServer(short, shortKey, names, ips, now)
	if err != nil {
		t.Fatal(err)
	}
	if !ServerCurrent(c2, k2, short, names, ips, now) {
		t.Error("a certificate of a short-lived CA is renewed at every boot")
	}
}

func shortCA(t *testing.T, now time.Time) (cert, key []byte) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "short"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	p8, _ := x509.MarshalPKCS8PrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})
}
