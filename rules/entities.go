package rules

import (
	"strings"

	"github.com/vigilsoc/vigil"
	"github.com/vigilsoc/vigil/fields"
)

// Entity is one of the things an alert is about, as the alert's reason and a terminal summary name them: its
// process, source, destination, user and host.
type Entity struct {
	// Name is the ECS field the value stands for: process.name, source.ip, destination.ip, user.name or host.name.
	Name string
	// Field is the field the value was read from: Name, or a flat Windows field (Computer, SubjectUserName ...).
	Field string
	// Value is the field's text; for a flat Windows image path, the file name (C:\Windows\cmd.exe is cmd.exe).
	Value string
}

// entities are the ECS fields of the entities, in the order the reason names them.
var entities = [...]struct{ name, object, field string }{
	{"process.name", "process", "name"},
	{"source.ip", "source", "ip"},
	{"destination.ip", "destination", "ip"},
	{"user.name", "user", "name"},
	{"host.name", "host", "name"},
}

const processEntity = 0

// flatEntity tells which entity a flat Windows field stands for (an index of entities, -1 for none) and its
// preference among that entity's fields, from 1. These are the fields of events as Sigma's windows-flat profile reads
// them, and as the OTRF recordings hold them (Hostname, and the Security log's names). A switch, since the reason
// asks it of every top-level key of an event that lacks an ECS entity.
func flatEntity(field string) (i, rank int) {
	switch field {
	case "Image":
		return processEntity, 1
	case "NewProcessName":
		return processEntity, 2
	case "ProcessName":
		return processEntity, 3
	case "IpAddress":
		return 1, 1
	case "SourceIp":
		return 1, 2
	case "SourceAddress":
		return 1, 3
	case "DestinationIp":
		return 2, 1
	case "DestAddress":
		return 2, 2
	case "SubjectUserName":
		return 3, 1
	case "TargetUserName":
		return 3, 2
	case "User":
		return 3, 3
	case "Computer":
		return 4, 1
	case "Hostname":
		return 4, 2
	}
	return -1, 0
}

// flatText is the entity's text of a flat field's value: "" for none or "-" (Windows writes "-" for none), and the
// file name of an executable path.
func flatText(i int, s string) string {
	if s == "-" {
		return ""
	}
	if j := strings.LastIndexAny(s, `\/`); i == processEntity && j >= 0 && j < len(s)-1 {
		return s[j+1:]
	}
	return s
}

// Entities returns the entities of an alert document, in the order process, source, destination, user, host: each
// from its ECS field, else from the preferred flat Windows field that holds text other than "" and "-". A summary
// of alerts from flat Windows events (sinks.SummaryLine) then names the same process, user and host the reason does.
func Entities(doc map[string]any) []Entity {
	var found [len(entities)]Entity
	var rank [len(entities)]int
	missing := false
	for i, e := range entities {
		if v := entityText(vigil.Get(doc, e.object, e.field)); v != "" && v != "-" {
			found[i], rank[i] = Entity{Name: e.name, Field: e.name, Value: v}, -1
		}
		missing = missing || rank[i] == 0
	}
	for k, v := range doc {
		if !missing {
			break
		}
		i, r := flatEntity(k)
		if i < 0 || rank[i] < 0 || rank[i] != 0 && rank[i] <= r {
			continue
		}
		if text := flatText(i, entityText(v)); text != "" {
			found[i], rank[i] = Entity{Name: entities[i].name, Field: k, Value: text}, r
		}
	}
	var out []Entity
	for i := range found {
		if rank[i] != 0 {
			out = append(out, found[i])
		}
	}
	return out
}

// entityText is the text of a string, or of the first element of a list of strings.
func entityText(v any) string {
	if l, ok := v.([]any); ok && len(l) > 0 {
		v = l[0]
	}
	s, _ := v.(string)
	return s
}

// eventEntities reads the entities of an event for its alert's reason: ECS fields first, and the flat fields of the
// missing ones in one pass over the event's top-level members.
func eventEntities(f fields.Value) (vals [len(entities)]string) {
	var rank [len(entities)]int // -1: from ECS; else the preference of the flat field found, 0 when none is
	missing := false
	for i, e := range entities {
		if v := firstString(f.Lookup(e.object, e.field)); v != "" && v != "-" {
			vals[i], rank[i] = v, -1
		}
		missing = missing || rank[i] == 0
	}
	if !missing || f.Kind() != fields.Object {
		return vals
	}
	for k, v := range f.Members() {
		i, r := flatEntity(k)
		if i < 0 || rank[i] < 0 || rank[i] != 0 && rank[i] <= r {
			continue
		}
		if text := flatText(i, firstString(v)); text != "" {
			vals[i], rank[i] = text, r
		}
	}
	return vals
}
