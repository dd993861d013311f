package netpilot

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func TestDefaultTarget(t *testing.T) {
	t.Setenv(SocketEnv, "")
	if got := DefaultTarget(); got != "unix:///run/netpilot/netpilot.sock" {
		t.Errorf("DefaultTarget() = %q", got)
	}
	t.Setenv(SocketEnv, "/tmp/x.sock")
	if got := DefaultTarget(); got != "unix:///tmp/x.sock" {
		t.Errorf("DefaultTarget() = %q", got)
	}
}

func TestFieldViolations(t *testing.T) {
	st, err := status.New(codes.InvalidArgument, "bad").WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "settings.x", Description: "unknown"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := FieldViolations(st.Err()); got["settings.x"] != "unknown" || len(got) != 1 {
		t.Errorf("FieldViolations = %v", got)
	}
	if got := FieldViolations(os.ErrNotExist); got != nil {
		t.Errorf("FieldViolations(non-gRPC error) = %v", got)
	}
}

// pki writes a CA, a server certificate for 127.0.0.1 and a client certificate.
type pki struct{ dir, ca, serverCert, serverKey, clientCert, clientKey string }

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	p := pki{dir: dir}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p.ca = write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "PRIVATE KEY", keyDER)
	}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

// TestMTLS runs a loopback gRPC server that demands a client certificate from the CA.
func TestMTLS(t *testing.T) {
	p := newPKI(t)
	serverCert, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, _ := os.ReadFile(p.ca)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, WithTarget(lis.Addr().String()), WithMTLS(p.ca, p.clientCert, p.clientKey))
	if err != nil {
		t.Fatalf("Dial with mTLS: %v", err)
	}
	c.Close()

	// The server's own certificate is no client certificate: refused.
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	if c, err := Dial(short, WithTarget(lis.Addr().String()), WithMTLS(p.ca, p.serverCert, p.serverKey)); err == nil {
		c.Close()
		t.Error("Dial with a server certificate as client certificate succeeded")
	}
	if _, err := Dial(ctx, WithMTLS(filepath.Join(p.dir, "missing.pem"), p.clientCert, p.clientKey)); err == nil {
		t.Error("Dial with a missing CA file succeeded")
	}
}
