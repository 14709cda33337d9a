package intake

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/vigilsoc/vigil"
)

// Why a request is not authenticated; HEC answers each differently (401 code 2, 401 code 3, 403 code 4).
var (
	errNoCredential  = errors.New("no credential: send Authorization: Splunk|ApiKey|Bearer TOKEN or Basic with the token as password")
	errBadCredential = errors.New("malformed Authorization header")
	errUnknownToken  = errors.New("invalid token")
	errCertMismatch  = errors.New("the token's tenant is not the client certificate's")
)

// credential extracts the token of a request: Authorization "Splunk T", "Bearer T", "ApiKey T" (also the key half of
// an Elasticsearch id:key API key in base64), or Basic with the token as password (user ignored). candidates holds
// the strings to try, in order.
func credential(r *http.Request) (candidates []string, err error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, errNoCredential
	}
	scheme, value, ok := strings.Cut(h, " ")
	value = strings.TrimSpace(value)
	if !ok || value == "" {
		return nil, errBadCredential
	}
	switch strings.ToLower(scheme) {
	case "splunk", "bearer":
		return []string{value}, nil
	case "apikey":
		c := []string{value}
		if raw, err := base64.StdEncoding.DecodeString(value); err == nil {
			if _, key, ok := strings.Cut(string(raw), ":"); ok && key != "" {
				c = append(c, key)
			}
		}
		return c, nil
	case "basic":
		if _, pass, ok := r.BasicAuth(); ok && pass != "" {
			return []string{pass}, nil
		}
	}
	return nil, errBadCredential
}

// authenticate finds who sent r: the verified client certificate's tenant, the token's, or both when they agree.
func (s *Server) authenticate(r *http.Request) (Principal, error) {
	certP, hasCert, err := s.certs.principal(r.TLS)
	if err != nil {
		return Principal{}, err
	}
	candidates, err := credential(r)
	if err != nil {
		if hasCert {
			return certP, nil
		}
		return Principal{}, err
	}
	for _, c := range candidates {
		if p, ok := s.tokens.Lookup(c); ok {
			if hasCert && p.Tenant != certP.Tenant {
				return Principal{}, errCertMismatch
			}
			return p, nil
		}
	}
	return Principal{}, errUnknownToken
}

// certTenants maps a verified client certificate to its tenant (tls.client_tenant and its prefix and suffix).
type certTenants struct {
	field, prefix, suffix string
}

// principal returns the tenant named by the connection's verified client certificate; ok is false without one.
func (c certTenants) principal(cs *tls.ConnectionState) (p Principal, ok bool, err error) {
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return Principal{}, false, nil
	}
	cert := cs.VerifiedChains[0][0]
	name := c.name(cert)
	tenant, found := strings.CutPrefix(name, c.prefix)
	if found || c.prefix == "" {
		tenant, found = strings.CutSuffix(tenant, c.suffix)
	}
	if !found && c.suffix != "" || tenant == "" || vigil.CheckTenant(tenant) != nil {
		return Principal{}, false, fmt.Errorf("client certificate %q names no tenant (tls.client_tenant: %s)", name, c.field)
	}
	return Principal{Tenant: tenant, Name: "cert:" + cert.Subject.CommonName}, true, nil
}

func (c certTenants) name(cert *x509.Certificate) string {
	switch c.field {
	case "dns":
		if len(cert.DNSNames) > 0 {
			return cert.DNSNames[0]
		}
	case "uri":
		if len(cert.URIs) > 0 {
			return cert.URIs[0].String()
		}
	case "email":
		if len(cert.EmailAddresses) > 0 {
			return cert.EmailAddresses[0]
		}
	default:
		return cert.Subject.CommonName
	}
	return ""
}

// serverTLS builds the server's TLS configuration, nil without a certificate. The certificate is read again on
// each handshake, so a renewed certificate needs no restart.
func (c *TLSConfig) serverTLS() (*tls.Config, error) {
	if c.CertFile == "" {
		return nil, nil
	}
	if _, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
			return &cert, err
		}}
	if c.ClientCAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(c.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	cfg.ClientCAs = x509.NewCertPool()
	if !cfg.ClientCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls: %s holds no PEM certificate", c.ClientCAFile)
	}
	cfg.ClientAuth = tls.VerifyClientCertIfGiven
	if c.RequireClientCert {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
