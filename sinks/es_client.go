package sinks

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/elastic/elastic-transport-go/v8/elastictransport"
	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// NewSearchTransport builds the HTTP client for cfg's flavour, for the esapi requests' Do method:
//   - elasticsearch: the full go-elasticsearch client, which refuses a server that does not send
//     X-Elastic-Product: Elasticsearch (Elasticsearch 7.14 and later do);
//   - opensearch: the client's transport layer (elastictransport) alone, the approach Jaeger takes, so OpenSearch
//     is spoken to with the same requests and no response header is faked.
//
// Neither retries by itself: the sink retries with its own backoff and the search command reports errors. The CA
// file is read here.
func NewSearchTransport(cfg ElasticsearchConfig) (esapi.Transport, error) {
	cfg.SetDefaults()
	urls := make([]*url.URL, 0, len(cfg.URLs))
	for _, s := range cfg.URLs {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("elasticsearch: url %q: %w", redactURL(s), err)
		}
		urls = append(urls, u)
	}
	httpTransport, err := newHTTPTransport(&cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Flavor == FlavorOpenSearch {
		opts := []elastictransport.Option{
			elastictransport.WithURLs(urls...),
			elastictransport.WithTransport(httpTransport),
			elastictransport.WithDisableRetry(),
			elastictransport.WithUserAgent("vigil"),
		}
		if cfg.Username != "" {
			opts = append(opts, elastictransport.WithBasicAuth(cfg.Username, cfg.Password))
		}
		tp, err := elastictransport.NewClient(opts...)
		if err != nil {
			return nil, fmt.Errorf("opensearch: %w", err)
		}
		return tp, nil
	}
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses:    cfg.URLs,
		Username:     cfg.Username,
		Password:     cfg.Password,
		APIKey:       cfg.APIKey,
		Transport:    httpTransport,
		DisableRetry: true,
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: %w", err)
	}
	return client, nil
}

// newHTTPTransport makes the connection pool: enough idle connections for every worker, and the TLS settings.
func newHTTPTransport(cfg *ElasticsearchConfig) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 2*cfg.Workers + 2
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // documented as unsafe
	if cfg.CACert != "" {
		pem, err := os.ReadFile(cfg.CACert)
		if err != nil {
			return nil, fmt.Errorf("elasticsearch: ca_cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("elasticsearch: ca_cert %s: no PEM certificate found", cfg.CACert)
		}
		t.TLSClientConfig.RootCAs = pool
	}
	return t, nil
}

// explainTransportError adds a hint to the client's refusal of a server that is not Elasticsearch.
func explainTransportError(err error, flavor string) error {
	if flavor == FlavorElasticsearch && strings.Contains(err.Error(), "not Elasticsearch") {
		return fmt.Errorf("%w (for OpenSearch set flavor: %s)", err, FlavorOpenSearch)
	}
	return err
}

// transient says whether a failed start-up request may succeed later: network errors, timeouts, 408, 429, 5xx and
// cluster blocks may; another error status, a certificate that does not verify, or a server that is not
// Elasticsearch will not.
func transient(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return retryableStatus(se.status) || clusterBlock(se.err) != nil
	}
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return false
	}
	return !strings.Contains(err.Error(), "not Elasticsearch")
}

func retryableStatus(status int) bool {
	return status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
}
