package rules

import "slices"

// ecsFields lists the field names of the Elastic Common Schema, for the warnings about fields in no known schema.
//
// This is authored data: written from the ECS field reference (ECS 8.x, up to 8.17) from memory, not downloaded or
// generated. It holds the field sets a SOC's events use (the list in each block below) and the reusable sets
// nested in them (geo, as, hash, pe, elf, macho, code_signature, x509, os, user, group ...) at the places ECS
// nests them. Objects whose keys are free are open: any field under them is known (labels, container.labels,
// threat.indicator, threat.enrichments). A name ECS lacks is added to the schema file of the deployment
// (`vigil rules validate --schema`), not here.
func ecsFields() []string {
	var out []string
	add := func(prefix string, names ...string) {
		for _, n := range names {
			if prefix != "" {
				n = prefix + "." + n
			}
			out = append(out, n)
		}
	}
	geo := []string{"city_name", "continent_code", "continent_name", "country_iso_code", "country_name", "location",
		"location.lat", "location.lon", "name", "postal_code", "region_iso_code", "region_name", "timezone"}
	as := []string{"number", "organization.name"}
	hash := []string{"md5", "sha1", "sha256", "sha384", "sha512", "ssdeep", "tlsh", "cdhash"}
	codeSignature := []string{"digest_algorithm", "exists", "flags", "signing_id", "status", "subject_name", "team_id",
		"thumbprint_sha256", "timestamp", "trusted", "valid"}
	sections := []string{"sections", "sections.entropy", "sections.name", "sections.physical_size",
		"sections.var_entropy", "sections.virtual_size"}
	goImports := []string{"go_import_hash", "go_imports", "go_imports_names_entropy", "go_imports_names_var_entropy",
		"go_stripped", "import_hash", "imports", "imports_names_entropy", "imports_names_var_entropy"}
	pe := slices.Concat([]string{"architecture", "company", "description", "file_version", "imphash",
		"original_file_name", "pehash", "product"}, goImports, sections)
	elf := slices.Concat([]string{"architecture", "byte_order", "cpu_type", "creation_date", "exports", "header.abi_version",
		"header.class", "header.data", "header.entrypoint", "header.object_version", "header.os_abi", "header.type",
		"header.version", "sections.chi2", "sections.flags", "sections.physical_offset", "sections.type",
		"sections.virtual_address", "segments", "segments.sections", "segments.type", "shared_libraries", "telfhash"},
		goImports, sections)
	macho := slices.Concat([]string{"symhash"}, goImports, sections)
	dn := []string{"common_name", "country", "distinguished_name", "locality", "organization", "organizational_unit",
		"state_or_province"}
	x509 := []string{"alternative_names", "not_after", "not_before", "public_key_algorithm", "public_key_curve",
		"public_key_exponent", "public_key_size", "serial_number", "signature_algorithm", "version_number"}
	for _, d := range dn {
		x509 = append(x509, "issuer."+d, "subject."+d)
	}
	osFields := []string{"family", "full", "kernel", "name", "platform", "type", "version"}
	group := []string{"domain", "id", "name"}
	risk := []string{"calculated_level", "calculated_score", "calculated_score_norm", "static_level", "static_score",
		"static_score_norm"}
	user := []string{"domain", "email", "full_name", "hash", "id", "name", "roles", "group.domain", "group.id",
		"group.name"}
	nested := func(prefix string, set []string) { add(prefix, set...) }
	file := func(prefix string) {
		add(prefix, "accessed", "attributes", "created", "ctime", "device", "directory", "drive_letter", "extension",
			"fork_name", "gid", "group", "inode", "mime_type", "mode", "mtime", "name", "origin_referrer_url",
			"origin_url", "owner", "path", "size", "target_path", "type", "uid")
		nested(prefix+".hash", hash)
		nested(prefix+".pe", pe)
		nested(prefix+".elf", elf)
		nested(prefix+".macho", macho)
		nested(prefix+".code_signature", codeSignature)
		nested(prefix+".x509", x509)
	}
	endpoint := func(prefix string) { // client, server, source, destination
		add(prefix, "address", "bytes", "domain", "ip", "mac", "nat.ip", "nat.port", "packets", "port",
			"registered_domain", "subdomain", "top_level_domain")
		nested(prefix+".geo", geo)
		nested(prefix+".as", as)
		nested(prefix+".user", user)
	}

	add("", "@timestamp", "message", "tags", "labels.*", "ecs.version", "span.id", "trace.id", "transaction.id")
	add("agent", "build.original", "ephemeral_id", "id", "name", "type", "version")
	for _, p := range []string{"client", "server", "source", "destination"} {
		endpoint(p)
	}
	cloud := []string{"account.id", "account.name", "availability_zone", "instance.id", "instance.name",
		"machine.type", "project.id", "project.name", "provider", "region", "service.name"}
	nested("cloud", cloud)
	nested("cloud.origin", cloud)
	nested("cloud.target", cloud)
	add("container", "cpu.usage", "disk.read.bytes", "disk.write.bytes", "id", "image.hash.all", "image.name",
		"image.tag", "labels.*", "memory.usage", "name", "network.egress.bytes", "network.ingress.bytes", "runtime",
		"security_context.privileged")
	add("data_stream", "dataset", "namespace", "type")
	add("device", "id", "manufacturer", "model.identifier", "model.name")
	add("dll", "name", "path")
	nested("dll.hash", hash)
	nested("dll.pe", pe)
	nested("dll.code_signature", codeSignature)
	add("dns", "answers", "answers.class", "answers.data", "answers.name", "answers.ttl", "answers.type",
		"header_flags", "id", "op_code", "question.class", "question.name", "question.registered_domain",
		"question.subdomain", "question.top_level_domain", "question.type", "resolved_ip", "response_code", "type")
	add("email", "attachments", "attachments.file.extension", "attachments.file.mime_type", "attachments.file.name",
		"attachments.file.size", "bcc.address", "cc.address", "content_type", "delivery_timestamp", "direction",
		"from.address", "local_id", "message_id", "origination_timestamp", "reply_to.address", "sender.address",
		"subject", "to.address", "x_mailer")
	nested("email.attachments.file.hash", hash)
	add("error", "code", "id", "message", "stack_trace", "type")
	add("event", "action", "agent_id_status", "category", "code", "created", "dataset", "duration", "end", "hash",
		"id", "ingested", "kind", "module", "original", "outcome", "provider", "reason", "reference", "risk_score",
		"risk_score_norm", "sequence", "severity", "start", "timezone", "type", "url")
	add("faas", "coldstart", "execution", "id", "name", "trigger.request_id", "trigger.type", "version")
	file("file")
	nested("group", group)
	add("host", "architecture", "boot.id", "cpu.usage", "disk.read.bytes", "disk.write.bytes", "domain", "hostname",
		"id", "ip", "mac", "name", "network.egress.bytes", "network.egress.packets", "network.ingress.bytes",
		"network.ingress.packets", "pid_ns_ino", "type", "uptime")
	nested("host.os", osFields)
	nested("host.geo", geo)
	nested("host.risk", risk)
	add("http", "request.body.bytes", "request.body.content", "request.bytes", "request.id", "request.method",
		"request.mime_type", "request.referrer", "response.body.bytes", "response.body.content", "response.bytes",
		"response.mime_type", "response.status_code", "version")
	add("log", "file.path", "level", "logger", "origin.file.line", "origin.file.name", "origin.function",
		"syslog.appname", "syslog.facility.code", "syslog.facility.name", "syslog.hostname", "syslog.msgid",
		"syslog.priority", "syslog.procid", "syslog.severity.code", "syslog.severity.name", "syslog.structured_data",
		"syslog.version")
	add("network", "application", "bytes", "community_id", "direction", "forwarded_ip", "iana_number", "name",
		"packets", "protocol", "transport", "type", "vlan.id", "vlan.name", "inner.vlan.id", "inner.vlan.name")
	add("observer", "hostname", "ip", "mac", "name", "product", "serial_number", "type", "vendor", "version")
	for _, dir := range []string{"egress", "ingress"} {
		add("observer."+dir, "zone", "interface.alias", "interface.id", "interface.name", "vlan.id", "vlan.name")
	}
	nested("observer.os", osFields)
	nested("observer.geo", geo)
	add("orchestrator", "api_version", "cluster.id", "cluster.name", "cluster.url", "cluster.version", "namespace",
		"organization", "resource.annotation", "resource.id", "resource.ip", "resource.label", "resource.name",
		"resource.parent.type", "resource.type", "type")
	add("organization", "id", "name")
	add("package", "architecture", "build_version", "checksum", "description", "install_scope", "installed",
		"license", "name", "path", "reference", "size", "type", "version")
	process := func(prefix string) {
		add(prefix, "args", "args_count", "command_line", "end", "entity_id", "env_vars", "executable", "exit_code",
			"interactive", "name", "pgid", "pid", "same_as_process", "start", "title", "uptime", "vpid",
			"working_directory", "thread.id", "thread.name", "thread.capabilities.effective",
			"thread.capabilities.permitted", "tty.char_device.major", "tty.char_device.minor", "io.text", "io.type",
			"io.max_bytes_per_process_exceeded", "io.total_bytes_captured", "io.total_bytes_skipped",
			"entry_meta.type", "entry_meta.source.ip", "supplemental_groups.id", "supplemental_groups.name")
		for _, u := range []string{"user", "real_user", "saved_user", "attested_user"} {
			add(prefix+"."+u, "id", "name")
		}
		for _, g := range []string{"group", "real_group", "saved_group", "attested_groups"} {
			add(prefix+"."+g, "id", "name")
		}
		nested(prefix+".hash", hash)
		nested(prefix+".pe", pe)
		nested(prefix+".elf", elf)
		nested(prefix+".macho", macho)
		nested(prefix+".code_signature", codeSignature)
	}
	process("process")
	for _, rel := range []string{"parent", "parent.group_leader", "group_leader", "session_leader", "entry_leader",
		"entry_leader.parent", "entry_leader.parent.session_leader", "session_leader.parent",
		"session_leader.parent.session_leader", "previous"} {
		process("process." + rel)
	}
	add("registry", "data.bytes", "data.strings", "data.type", "hive", "key", "path", "value")
	add("related", "hash", "hosts", "ip", "user")
	add("rule", "author", "category", "description", "id", "license", "name", "reference", "ruleset", "uuid",
		"version")
	service := []string{"address", "environment", "ephemeral_id", "id", "name", "node.name", "node.role",
		"node.roles", "state", "type", "version"}
	nested("service", service)
	nested("service.origin", service)
	nested("service.target", service)
	add("threat", "enrichments.*", "indicator.*", "feed.dashboard_id", "feed.description", "feed.name",
		"feed.reference", "framework", "group.alias", "group.id", "group.name", "group.reference", "software.alias",
		"software.id", "software.name", "software.platforms", "software.reference", "software.type", "tactic.id",
		"tactic.name", "tactic.reference", "technique.id", "technique.name", "technique.reference",
		"technique.subtechnique.id", "technique.subtechnique.name", "technique.subtechnique.reference")
	add("tls", "cipher", "curve", "established", "next_protocol", "resumed", "version", "version_protocol",
		"client.certificate", "client.certificate_chain", "client.issuer", "client.ja3", "client.not_after",
		"client.not_before", "client.server_name", "client.subject", "client.supported_ciphers",
		"server.certificate", "server.certificate_chain", "server.issuer", "server.ja3s", "server.not_after",
		"server.not_before", "server.subject")
	for _, side := range []string{"client", "server"} {
		add("tls."+side+".hash", "md5", "sha1", "sha256")
		nested("tls."+side+".x509", x509)
	}
	add("url", "domain", "extension", "fragment", "full", "original", "password", "path", "port", "query",
		"registered_domain", "scheme", "subdomain", "top_level_domain", "username")
	nested("user", user)
	nested("user.risk", risk)
	for _, rel := range []string{"changes", "effective", "target"} {
		nested("user."+rel, user)
	}
	add("user_agent", "device.name", "name", "original", "version")
	nested("user_agent.os", osFields)
	add("vulnerability", "category", "classification", "description", "enumeration", "id", "reference",
		"report_id", "scanner.vendor", "score.base", "score.environmental", "score.temporal", "score.version",
		"severity")
	add("volume", "bus_type", "default_access", "device_name", "device_type", "dos_name", "file_system_type",
		"mount_name", "nt_name", "product_id", "product_name", "removable", "serial_number", "size", "vendor_id",
		"vendor_name", "writable")
	return out
}
