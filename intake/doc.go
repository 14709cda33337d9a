// Package intake is Vigil's front door for partners: `vigil intake` receives logs the way partners' tools already
// send them (Splunk HEC, the Elasticsearch _bulk API, NDJSON, syslog over TCP and TLS), authenticates the partner
// (a token or a client certificate), takes the tenant from that credential and never from the payload, applies the
// tenant's quota and writes the records to Kafka with acks=all, answering only once every record of a request is
// acknowledged (DESIGN.md section 11). It keeps no state of its own: Kafka is the buffer, and `vigil run` consumes
// the topics it writes (the tenant's topic, or a multi-tenant topic with the tenant header).
//
// # Records
//
// A record's value is the partner's payload, byte for byte: the HEC event object, the _bulk document, the NDJSON
// line, the syslog line. So a shipper's retry of the same event yields the same record, and the same alert id in
// `vigil run` (alert_id: content). What intake knows about a record travels in Kafka headers:
//
//	tenant                    the tenant, from the credential (header name: kafka.tenant_header)
//	vigil.intake.received     when intake received it (RFC 3339, UTC)
//	vigil.intake.remote       the client's address (ip:port)
//	vigil.intake.route        the endpoint: hec/event, hec/raw, bulk, ndjson, syslog/NAME
//	vigil.intake.credential   the name of the token or certificate subject that authenticated it
//	format                    "syslog" on syslog records (a raw line, not JSON)
//	es.index, es.id           the _bulk action's _index and _id, when given
//
// The one exception is HEC's raw endpoint: a raw line is wrapped as {"event": LINE} plus the host, source,
// sourcetype and index of the query string, the shape of an event sent to /services/collector/event.
//
// # Files
//
// config.go (the intake: section), tokens.go (the tokens file), auth.go (credentials and certificates), server.go
// (the HTTP server and its lifetime), deliver.go (records to Kafka), body.go (bodies, gzip, limits), hec.go,
// bulk.go, esapi.go (what Elasticsearch clients probe), ndjson.go, syslog.go, quota.go, metrics.go.
package intake
