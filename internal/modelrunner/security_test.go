package modelrunner_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/crunch-coordinator/coordinator/internal/modelrunner"
	"github.com/crunch-coordinator/coordinator/internal/modelrunner/mrtest"
)

// pki is a generated CA with a server certificate for model m1 and a
// client certificate, written as PEM files.
type pki struct {
	dir                         string
	caFile, certFile, keyFile   string
	serverCert                  tls.Certificate
	pool                        *x509.CertPool
	gatewayKeyFile, otherCAFile string
	gatewayKey                  *rsa.PrivateKey
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, der
}

func leaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, serial int64, usage x509.ExtKeyUsage, dns []string) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "leaf"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature, DNSNames: dns,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	ca, caKey, caDER := newCA(t)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)
	sDER, sKey := leaf(t, ca, caKey, 2, x509.ExtKeyUsageServerAuth, []string{"model-node-m1.crunchdao.internal", "gateway.test"})
	p.serverCert = tls.Certificate{Certificate: [][]byte{sDER}, PrivateKey: sKey}
	cDER, cKey := leaf(t, ca, caKey, 3, x509.ExtKeyUsageClientAuth, nil)
	p.certFile, p.keyFile = filepath.Join(p.dir, "client.pem"), filepath.Join(p.dir, "client-key.pem")
	writePEM(t, p.certFile, "CERTIFICATE", cDER)
	kDER, err := x509.MarshalECPrivateKey(cKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, p.keyFile, "EC PRIVATE KEY", kDER)
	p.gatewayKey, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p.gatewayKeyFile = filepath.Join(p.dir, "gateway-key.pem")
	writePEM(t, p.gatewayKeyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(p.gatewayKey))
	_, _, otherDER := newCA(t)
	p.otherCAFile = filepath.Join(p.dir, "other-ca.pem")
	writePEM(t, p.otherCAFile, "CERTIFICATE", otherDER)
	return p
}

// gatewayCheck is the gateway side of the signature check: the message is
// {"model_id", "timestamp"}, fresh, for the expected model, and signed by
// the presented RSA key.
func gatewayCheck(model string, pubkeys chan<- string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		get := func(k string) []byte {
			if v := md.Get(k); len(v) == 1 {
				b, _ := base64.StdEncoding.DecodeString(v[0])
				return b
			}
			return nil
		}
		msg, sig, pubDER := get(modelrunner.GatewayMessageKey), get(modelrunner.GatewaySignatureKey), get(modelrunner.GatewayPubkeyKey)
		pub, err := x509.ParsePKIXPublicKey(pubDER)
		if err != nil {
			return nil, status.Errorf(codes.Unauthenticated, "pubkey: %v", err)
		}
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, status.Error(codes.Unauthenticated, "pubkey: not RSA")
		}
		sum := sha256.Sum256(msg)
		if err := rsa.VerifyPKCS1v15(rk, crypto.SHA256, sum[:], sig); err != nil {
			return nil, status.Errorf(codes.Unauthenticated, "signature: %v", err)
		}
		var m struct {
			ModelID   string `json:"model_id"`
			Timestamp int64  `json:"timestamp"`
		}
		if err := json.Unmarshal(msg, &m); err != nil || m.ModelID != model || time.Since(time.Unix(m.Timestamp, 0)).Abs() > time.Minute {
			return nil, status.Errorf(codes.Unauthenticated, "message %s", msg)
		}
		select {
		case pubkeys <- string(pubDER):
		default:
		}
		return next(ctx, req)
	}
}

func tryCall(t *testing.T, sec *modelrunner.Security, model, addr string) error {
	t.Helper()
	c, err := modelrunner.Dial(addr, sec.DialOptions(model, addr)...)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if err := c.WaitHealthy(ctx); err != nil {
		return err
	}
	if err := c.Setup(ctx, "tracker.TrackerBase"); err != nil {
		return err
	}
	out, err := c.Predict(ctx, []json.RawMessage{json.RawMessage(`"BTC"`)}, nil)
	if err != nil {
		return err
	}
	if string(out) != "0.25" {
		t.Fatalf("predict over %s: expected 0.25, found %s", sec.Mode, out)
	}
	return nil
}

// TestSecurityModes runs the three transports of §6.4 against test
// model-runner servers with generated certificates: mutual TLS (and its
// refusals: wrong CA, wrong server name, no client certificate,
// plaintext), and gateway signatures verified by the server.
func TestSecurityModes(t *testing.T) {
	p := newPKI(t)
	h := mrtest.Constant(json.RawMessage(`0.25`))
	mtls, err := mrtest.Start("127.0.0.1:0", h, grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{p.serverCert}, ClientCAs: p.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	defer mtls.Stop()
	pubkeys := make(chan string, 8)
	gw, err := mrtest.Start("127.0.0.1:0", h, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{p.serverCert}, MinVersion: tls.VersionTLS12})),
		grpc.UnaryInterceptor(gatewayCheck("m1", pubkeys)))
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Stop()
	plain, err := mrtest.Start("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Stop()

	load := func(env map[string]string) *modelrunner.Security {
		t.Helper()
		env[modelrunner.EnvConnectTimeout] = "3"
		s, err := modelrunner.LoadSecurity(env)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	secure := map[string]string{modelrunner.EnvSecurity: "secure", modelrunner.EnvCAFile: p.caFile, modelrunner.EnvCertFile: p.certFile, modelrunner.EnvKeyFile: p.keyFile}
	with := func(base map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for a, b := range base {
			out[a] = b
		}
		out[k] = v
		return out
	}
	gateway := map[string]string{modelrunner.EnvSecurity: "gateway", modelrunner.EnvCAFile: p.caFile, modelrunner.EnvGatewayKeyFile: p.gatewayKeyFile, modelrunner.EnvServerName: "gateway.test"}

	for _, tc := range []struct {
		name   string
		env    map[string]string
		model  string
		addr   string
		wantOK bool
	}{
		{"plain", map[string]string{}, "m1", plain.Addr(), true},
		{"secure", secure, "m1", mtls.Addr(), true},
		{"secure, server name of another model", secure, "m2", mtls.Addr(), false},
		{"secure, server signed by another CA", with(secure, modelrunner.EnvCAFile, p.otherCAFile), "m1", mtls.Addr(), false},
		{"secure to a plaintext server", secure, "m1", plain.Addr(), false},
		{"plain to a TLS server", map[string]string{}, "m1", mtls.Addr(), false},
		{"TLS without client certificate", with(gateway, modelrunner.EnvServerName, "model-node-m1.crunchdao.internal"), "m1", mtls.Addr(), false},
		{"gateway", gateway, "m1", gw.Addr(), true},
		{"gateway, signed for another model", gateway, "m2", gw.Addr(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tryCall(t, load(tc.env), tc.model, tc.addr)
			if tc.wantOK && err != nil {
				t.Fatalf("expected a call to succeed, found %v", err)
			}
			if !tc.wantOK && err == nil {
				t.Fatal("expected the connection or call to be refused, it succeeded")
			}
		})
	}
	select {
	case got := <-pubkeys:
		der, _ := x509.MarshalPKIXPublicKey(&p.gatewayKey.PublicKey)
		if got != string(der) {
			t.Fatal("gateway: the presented public key is not the configured key's")
		}
	default:
		t.Fatal("gateway: no signed call reached the server")
	}
}

// TestLoadSecurityErrors: every bad setting is refused with the setting
// and file named, and key material never appears in an error.
func TestLoadSecurityErrors(t *testing.T) {
	p := newPKI(t)
	secret := filepath.Join(p.dir, "secret.pem")
	const marker = "SUPERSECRETKEYMATERIAL"
	if err := os.WriteFile(secret, []byte("-----BEGIN RSA PRIVATE KEY-----\n"+marker+"\n-----END RSA PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{modelrunner.EnvSecurity: "tls"}, `expected plain, secure or gateway, found "tls"`},
		{map[string]string{modelrunner.EnvSecurity: "secure"}, "requires MODEL_RUNNER_CA_FILE"},
		{map[string]string{modelrunner.EnvSecurity: "secure", modelrunner.EnvCAFile: p.caFile}, "requires MODEL_RUNNER_CERT_FILE"},
		{map[string]string{modelrunner.EnvSecurity: "secure", modelrunner.EnvCAFile: p.caFile, modelrunner.EnvCertFile: p.certFile, modelrunner.EnvKeyFile: secret}, "MODEL_RUNNER_KEY_FILE=" + secret},
		{map[string]string{modelrunner.EnvSecurity: "secure", modelrunner.EnvCAFile: secret, modelrunner.EnvCertFile: p.certFile, modelrunner.EnvKeyFile: p.keyFile}, "holds no PEM certificate"},
		{map[string]string{modelrunner.EnvSecurity: "gateway"}, "requires MODEL_RUNNER_GATEWAY_KEY_FILE"},
		{map[string]string{modelrunner.EnvSecurity: "gateway", modelrunner.EnvGatewayKeyFile: secret}, "MODEL_RUNNER_GATEWAY_KEY_FILE=" + secret},
		{map[string]string{modelrunner.EnvSecurity: "gateway", modelrunner.EnvGatewayKeyFile: p.keyFile}, "RSA private key"},
		{map[string]string{modelrunner.EnvConnectTimeout: "-1"}, "MODEL_RUNNER_CONNECT_TIMEOUT_SECONDS"},
	} {
		_, err := modelrunner.LoadSecurity(tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: expected an error containing %q, found %v", tc.env, tc.want, err)
			continue
		}
		if strings.Contains(err.Error(), marker) {
			t.Errorf("%v: the error shows key material: %v", tc.env, err)
		}
	}
	s, err := modelrunner.LoadSecurity(map[string]string{modelrunner.EnvSecurity: "gateway", modelrunner.EnvGatewayKeyFile: p.gatewayKeyFile})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ServerName("m1", "gw.example:443"); got != "gw.example" {
		t.Errorf("gateway server name: expected the address host, found %q", got)
	}
	if strings.Contains(s.String(), "PRIVATE") {
		t.Errorf("String shows key material: %s", s)
	}
}
