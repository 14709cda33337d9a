// Package hunt runs detection again over the records Kafka still holds (DESIGN.md sections 1 and 10): `vigil hunt`
// evaluates a rule set over a time range of the source topics, and the IOC retro-hunt searches the retained records
// for threat-intel indicators that were added after the records were consumed.
//
// # Reading a time range
//
// Source reads the partitions of the configured Kafka sources itself, without a consumer group: it never joins the
// live group and never commits, so hunting cannot move the live detection's offsets. The range of each partition is
// found with Kafka's offsets-for-times (ListOffsets with a timestamp): from the first record whose timestamp is at or
// after --since to the first at or after --until (or the end of the partition when it starts). A record is in the
// hunt when its offset is in that range, as `kafka-consumer-groups --reset-offsets --to-datetime` counts them; the
// records' own timestamps are not filtered again, so a record written with an older CreateTime among newer ones is
// read, as the live consumer read it.
//
// Records decode through ingest.KafkaDecoder, the Kafka source's own decoder (tenant from the topic or the header,
// the topic's format and parsers, the size limit, alert_id), so an event has the same identity, and its alerts the
// same ids, as when live detection read it: writing them with `create` adds nothing that is already in the index.
//
// # Order
//
// Correlations run in-process, as in `vigil replay`, and decide their windows in event time with an allowed
// lateness. The live pipeline reads partitions side by side; a hunt that read one partition after another would make
// the second partition's events late. Source therefore merges its partitions by record timestamp (ties by topic,
// partition and offset): one goroutine per partition fetches and decodes (so decoding runs in parallel), and Read
// takes the oldest head among them.
//
// # Retro-hunt
//
// Retrohunt is run by `vigil run` when the threat-intel table gains indicators: a vigil.Pipeline over a Source of the
// last window whose detector matches the new indicators (enrich.ThreatIntel.MatchFields over a set holding only
// them) instead of rules. Its share of the CPUs is kept by pacing, not by measuring the process's CPU time (which
// live detection shares): the run adds up the time of its CPU-bound work, decoding in the partition readers and
// matching in the detector, and before each read waits until that sum fits in cpu_share × CPUs × the time since the
// run started (PaceDelay). Wall time of CPU-bound code is at least its CPU time, so on a loaded machine the bound
// errs on the low side. Not counted: garbage collection, network reads, enrichment and writing the (few) alerts;
// measured, runs stayed within 15% of their share (docs/benchmarks.md).
package hunt
