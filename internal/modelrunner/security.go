package modelrunner

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Security modes of remote model runners (reference-system.md §6.4).
const (
	// ModePlain: plaintext gRPC (a trusted network, loopback).
	ModePlain = "plain"
	// ModeSecure: mutual TLS. The node presents its client certificate and
	// verifies the runner's certificate against the configured CA, for the
	// server name model-node-<model id>.crunchdao.internal by default.
	ModeSecure = "secure"
	// ModeGateway: TLS to a TLS-terminating gateway, every call signed with
	// the node's RSA key (x-gateway-auth-* metadata).
	ModeGateway = "gateway"
)

// Settings of remote model runners (registered in config.Known).
const (
	EnvSecurity       = "MODEL_RUNNER_SECURITY"
	EnvCAFile         = "MODEL_RUNNER_CA_FILE"
	EnvCertFile       = "MODEL_RUNNER_CERT_FILE"
	EnvKeyFile        = "MODEL_RUNNER_KEY_FILE"
	EnvGatewayKeyFile = "MODEL_RUNNER_GATEWAY_KEY_FILE"
	EnvServerName     = "MODEL_RUNNER_SERVER_NAME"
	EnvConnectTimeout = "MODEL_RUNNER_CONNECT_TIMEOUT_SECONDS"
)

// Gateway-signature metadata keys (§6.4).
const (
	GatewayMessageKey   = "x-gateway-auth-message"
	GatewaySignatureKey = "x-gateway-auth-signature"
	GatewayPubkeyKey    = "x-gateway-auth-pubkey"
)

// DefaultConnectTimeout bounds one connect attempt of a remote model
// (the channel ready, health SERVING and Setup answered; §6.4 waits 10 s).
const DefaultConnectTimeout = 10 * time.Second

// ErrSecurityConfig is wrapped by every LoadSecurity error.
var ErrSecurityConfig = errors.New("model runner security settings")

// Security is how the node reaches remote model runners: the mode and the
// material loaded from the configured files. Its String never shows key
// material; errors name files, never their contents.
type Security struct {
	Mode string
	// ConnectTimeout bounds one connect + health + Setup attempt.
	ConnectTimeout time.Duration
	serverName     string
	roots          *x509.CertPool // nil: system roots (gateway only)
	cert           *tls.Certificate
	gatewayKey     *rsa.PrivateKey
	gatewayPubB64  string
}

// String names the mode and server name only.
func (s *Security) String() string {
	return fmt.Sprintf("model runner security %s (server name %q)", s.Mode, s.serverName)
}

// LoadSecurity reads the MODEL_RUNNER_* settings from env (the merged
// .local.env and process environment) and loads the files they name. An
// empty mode is ModePlain. Errors wrap ErrSecurityConfig and name the
// setting and file.
func LoadSecurity(env map[string]string) (*Security, error) {
	get := func(k string) string { return strings.TrimSpace(env[k]) }
	s := &Security{Mode: strings.ToLower(get(EnvSecurity)), serverName: get(EnvServerName), ConnectTimeout: DefaultConnectTimeout}
	if s.Mode == "" {
		s.Mode = ModePlain
	}
	if v := get(EnvConnectTimeout); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n <= 0 || n > 600 {
			return nil, fmt.Errorf("%w: %s: expected seconds in (0, 600], found %q", ErrSecurityConfig, EnvConnectTimeout, v)
		}
		s.ConnectTimeout = time.Duration(n * float64(time.Second))
	}
	need := func(k, why string) (string, error) {
		v := get(k)
		if v == "" {
			return "", fmt.Errorf("%w: %s=%s requires %s (%s)", ErrSecurityConfig, EnvSecurity, s.Mode, k, why)
		}
		return v, nil
	}
	loadCA := func(path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrSecurityConfig, EnvCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return fmt.Errorf("%w: %s: %s holds no PEM certificate", ErrSecurityConfig, EnvCAFile, path)
		}
		s.roots = pool
		return nil
	}
	switch s.Mode {
	case ModePlain:
		return s, nil
	case ModeSecure:
		ca, err := need(EnvCAFile, "the CA that signs the model runners' certificates")
		if err != nil {
			return nil, err
		}
		certFile, err := need(EnvCertFile, "this node's client certificate")
		if err != nil {
			return nil, err
		}
		keyFile, err := need(EnvKeyFile, "the client certificate's private key")
		if err != nil {
			return nil, err
		}
		if err := loadCA(ca); err != nil {
			return nil, err
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			// tls's errors name no key bytes.
			return nil, fmt.Errorf("%w: %s=%s, %s=%s: %w", ErrSecurityConfig, EnvCertFile, certFile, EnvKeyFile, keyFile, err)
		}
		s.cert = &cert
		return s, nil
	case ModeGateway:
		if ca := get(EnvCAFile); ca != "" {
			if err := loadCA(ca); err != nil {
				return nil, err
			}
		}
		keyFile, err := need(EnvGatewayKeyFile, "the RSA key that signs every call")
		if err != nil {
			return nil, err
		}
		key, err := readRSAKey(keyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %s=%s: %w", ErrSecurityConfig, EnvGatewayKeyFile, keyFile, err)
		}
		der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: public key: %w", ErrSecurityConfig, EnvGatewayKeyFile, err)
		}
		s.gatewayKey, s.gatewayPubB64 = key, base64.StdEncoding.EncodeToString(der)
		return s, nil
	default:
		return nil, fmt.Errorf("%w: %s: expected %s, %s or %s, found %q", ErrSecurityConfig, EnvSecurity, ModePlain, ModeSecure, ModeGateway, s.Mode)
	}
}

// readRSAKey reads a PEM RSA private key (PKCS#1 or PKCS#8).
func readRSAKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("expected a PEM private key, found no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("expected a PKCS#1 or PKCS#8 RSA private key (PEM type %q): %w", blk.Type, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("expected an RSA private key (gateway signatures are RSA only), found %T", k)
	}
	return rk, nil
}

// ServerName is the TLS server name checked for model modelID at address
// (host:port): the configured MODEL_RUNNER_SERVER_NAME, else
// model-node-<modelID>.crunchdao.internal (secure) or the address host
// (gateway).
func (s *Security) ServerName(modelID, address string) string {
	if s.serverName != "" {
		return s.serverName
	}
	if s.Mode == ModeSecure {
		return "model-node-" + modelID + ".crunchdao.internal"
	}
	h, _, err := net.SplitHostPort(address)
	if err != nil {
		return address
	}
	return h
}

// DialOptions returns the transport options for model modelID at address:
// plaintext, mutual TLS, or TLS plus per-call gateway signatures. They
// replace the plaintext credentials of DialOptions (appended after them).
func (s *Security) DialOptions(modelID, address string) []grpc.DialOption {
	if s == nil || s.Mode == ModePlain {
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: s.roots, ServerName: s.ServerName(modelID, address)}
	if s.cert != nil {
		cfg.Certificates = []tls.Certificate{*s.cert}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
	if s.Mode == ModeGateway {
		opts = append(opts, grpc.WithPerRPCCredentials(&gatewaySigner{modelID: modelID, key: s.gatewayKey, pubB64: s.gatewayPubB64, now: time.Now}))
	}
	return opts
}

// gatewaySigner signs every call for the gateway (§6.4): the message is the
// compact JSON {"model_id": ..., "timestamp": <epoch s>}, signed with RSA
// PKCS#1 v1.5 over SHA-256; message, signature and the DER
// SubjectPublicKeyInfo travel base64-encoded in the metadata.
type gatewaySigner struct {
	modelID string
	key     *rsa.PrivateKey
	pubB64  string
	now     func() time.Time
}

// GetRequestMetadata signs a fresh message for each call.
func (g *gatewaySigner) GetRequestMetadata(_ context.Context, _ ...string) (map[string]string, error) {
	msg, err := GatewayMessage(g.modelID, g.now())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, g.key, crypto.SHA256, sum[:])
	if err != nil {
		return nil, fmt.Errorf("gateway signature for model %s: %w", g.modelID, err)
	}
	return map[string]string{
		GatewayMessageKey:   base64.StdEncoding.EncodeToString(msg),
		GatewaySignatureKey: base64.StdEncoding.EncodeToString(sig),
		GatewayPubkeyKey:    g.pubB64,
	}, nil
}

// RequireTransportSecurity: signatures are only sent over TLS.
func (g *gatewaySigner) RequireTransportSecurity() bool { return true }

// GatewayMessage is the signed gateway message: compact JSON with keys
// model_id then timestamp (Unix seconds).
func GatewayMessage(modelID string, t time.Time) ([]byte, error) {
	id, err := json.Marshal(modelID)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, `{"model_id":%s,"timestamp":%d}`, id, t.Unix()), nil
}
