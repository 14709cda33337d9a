package intake

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"
)

// What Elasticsearch clients and shippers call besides _bulk, answered so that they start and keep sending:
//
//   - GET / (and HEAD /): the version body. go-elasticsearch and elasticsearch-py refuse a server without the
//     X-Elastic-Product: Elasticsearch header, so every answer here carries it; Beats, Logstash and rsyslog read
//     the version number (elasticsearch_version, default 8.17.0).
//   - HEAD /_cat/health, GET /_cat/...: rsyslog's omelasticsearch health check before it sends.
//   - GET /_license, GET /_xpack: Beats and Logstash (a basic licence, ILM reported unavailable so they do not
//     manage policies).
//   - GET /_nodes/http, GET /_cluster/health: sniffing clients and health checks.
//   - index templates, component templates, ILM policies, ingest pipelines: HEAD and GET say they exist, PUT and
//     POST are acknowledged and ignored. Vigil has no index: `vigil run` decides what becomes of the records.
//
// These answers need no credentials: they reveal nothing but that this is Vigil. _bulk does.

const esClusterName = "vigil-intake"

func (s *Server) esRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_bulk", s.handleBulk)
	mux.HandleFunc("PUT /_bulk", s.handleBulk)
	mux.HandleFunc("POST /{index}/_bulk", s.handleBulk)
	mux.HandleFunc("PUT /{index}/_bulk", s.handleBulk)
	mux.HandleFunc("/", s.handleESProbe)
}

// esAdminPrefixes are the paths of templates, policies and pipelines: said to exist, and acknowledged.
var esAdminPrefixes = []string{"/_index_template/", "/_template/", "/_component_template/", "/_ilm/policy/",
	"/_ingest/pipeline/"}

// handleESProbe answers everything the mux has no pattern for: the probes of Elasticsearch clients, by hand,
// because their paths overlap in ways ServeMux patterns cannot express without conflicts.
func (s *Server) handleESProbe(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	read := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case read && p == "/":
		s.handleESRoot(w, r)
	case read && p == "/_license":
		s.handleLicense(w, r)
	case read && p == "/_xpack":
		s.handleXPack(w, r)
	case read && strings.HasPrefix(p, "/_cat/"):
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		fmt.Fprintf(w, "%d %s %s green 1 1 0 0 0 0 0 0 - 100.0%%\n", time.Now().Unix(), time.Now().UTC().Format("15:04:05"), esClusterName)
	case read && p == "/_cluster/health":
		writeES(w, http.StatusOK, map[string]any{"cluster_name": esClusterName, "status": "green", "timed_out": false,
			"number_of_nodes": 1, "number_of_data_nodes": 1, "active_shards_percent_as_number": 100.0})
	case read && strings.HasPrefix(p, "/_nodes"):
		s.handleNodes(w, r)
	case hasAnyPrefix(p, esAdminPrefixes) && read:
		writeES(w, http.StatusOK, map[string]any{path.Base(p): map[string]any{}})
	case hasAnyPrefix(p, esAdminPrefixes) && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		writeES(w, http.StatusOK, map[string]bool{"acknowledged": true})
	case r.Method == http.MethodHead: // an index or alias exists check
		writeES(w, http.StatusOK, map[string]any{})
	default:
		writeESError(w, http.StatusNotFound, "illegal_argument_exception",
			fmt.Sprintf("vigil intake does not serve %s %s", r.Method, p))
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (s *Server) handleESRoot(w http.ResponseWriter, _ *http.Request) {
	writeES(w, http.StatusOK, map[string]any{
		"name": esClusterName, "cluster_name": esClusterName, "cluster_uuid": "vigil-intake-0000000000",
		"version": map[string]any{"number": s.cfg.ElasticsearchVersion, "build_flavor": "default", "build_type": "tar",
			"build_hash": "vigil", "build_date": "2026-01-01T00:00:00.000Z", "build_snapshot": false,
			"lucene_version": "9.12.0", "minimum_wire_compatibility_version": "7.17.0",
			"minimum_index_compatibility_version": "7.0.0"},
		"tagline": "You Know, for Search",
	})
}

func (s *Server) handleLicense(w http.ResponseWriter, _ *http.Request) {
	writeES(w, http.StatusOK, map[string]any{"license": map[string]any{"status": "active", "uid": "vigil-intake",
		"type": "basic", "issue_date": "2026-01-01T00:00:00.000Z", "issue_date_in_millis": 1767225600000,
		"max_nodes": 1000, "issued_to": esClusterName, "issuer": "elasticsearch", "start_date_in_millis": -1}})
}

func (s *Server) handleXPack(w http.ResponseWriter, _ *http.Request) {
	off := map[string]bool{"available": false, "enabled": false}
	writeES(w, http.StatusOK, map[string]any{
		"build":   map[string]any{"hash": "vigil", "date": "2026-01-01T00:00:00.000Z"},
		"license": map[string]any{"uid": "vigil-intake", "type": "basic", "mode": "basic", "status": "active"},
		"features": map[string]any{"ilm": off, "security": map[string]bool{"available": true, "enabled": true},
			"monitoring": off, "ml": off, "watcher": off},
	})
}

func (s *Server) handleNodes(w http.ResponseWriter, r *http.Request) {
	writeES(w, http.StatusOK, map[string]any{
		"_nodes": map[string]int{"total": 1, "successful": 1, "failed": 0}, "cluster_name": esClusterName,
		"nodes": map[string]any{"vigil-intake-0": map[string]any{"name": esClusterName,
			"version": s.cfg.ElasticsearchVersion, "roles": []string{"data", "ingest", "master"},
			"http": map[string]any{"publish_address": r.Host, "bound_address": []string{r.Host}}}},
	})
}

// writeES answers as Elasticsearch does, with the product header.
func writeES(w http.ResponseWriter, status int, v any) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeESError answers with Elasticsearch's error body.
func writeESError(w http.ResponseWriter, status int, typ, reason string) {
	cause := esCause{Type: typ, Reason: reason}
	writeES(w, status, map[string]any{"error": map[string]any{"root_cause": []esCause{cause}, "type": typ,
		"reason": reason}, "status": status})
}

// esFail answers an error of begin, readBody, parseBulk or write in Elasticsearch's shape.
func esFail(w http.ResponseWriter, req *request, err error) {
	f := req.classify(err)
	typ := "illegal_argument_exception"
	switch {
	case f.status == http.StatusUnauthorized || f.status == http.StatusForbidden:
		typ = "security_exception"
		f.msg = "unable to authenticate with the provided credentials"
		if errors.Is(err, errNoCredential) {
			f.msg = "missing authentication credentials for REST request"
		}
		w.Header().Set("WWW-Authenticate", `ApiKey, Basic realm="security" charset="UTF-8"`)
	case f.status == http.StatusTooManyRequests:
		typ = "es_rejected_execution_exception"
	case f.status == http.StatusServiceUnavailable:
		typ = "unavailable_shards_exception"
	case f.status == http.StatusRequestEntityTooLarge:
		typ = "content_too_long_exception"
	}
	f.header(w)
	writeESError(w, f.status, typ, f.msg)
}
