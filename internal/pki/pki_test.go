package pki

import (
	"crypto/x509"
	"encoding/pem"
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
