// Package enrich adds context to alerts after detection and gives rules the same context at detection time
// (DESIGN.md sections 1, 4 and 6): location and network owner from MaxMind-format databases (GeoIP), owner and
// criticality from asset inventories (Assets), and known-bad indicators from threat-intelligence files (ThreatIntel).
//
// Every table lives in memory and is read through an atomic pointer, so lookups never block and never do I/O. A
// Watcher reloads a table when its files change and swaps the new version in whole; a file that does not load
// leaves the previous version in place, and the failure is counted and reported with its file and line.
//
// The enrichers implement vigil.Enricher and write ECS fields: <entity>.geo and <entity>.as, vigil.asset.<entity>,
// and threat.enrichments. Library declares the rule functions ioc.ip, ioc.domain, ioc.url, ioc.hash, asset and
// geoip over the same tables. A lookup that finds nothing returns a value rules can test, never an error.
package enrich
