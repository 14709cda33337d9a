package configs_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// use is what a visualisation does with a field, which decides the mapping types it accepts.
type use string

const (
	useTime     use = "time field"     // the data view's time field: date
	useDateHist use = "date histogram" // date
	useTerms    use = "terms"          // keyword, numeric, ip, boolean
	useSort     use = "sort"           // anything with doc values: keyword, numeric, ip, boolean, date
	useNumeric  use = "numeric metric" // numbers only
	useAgg      use = "aggregation"    // anything with doc values (cardinality, last value)
	useColumn   use = "column"         // any mapped leaf field: Discover shows text too
	useQuery    use = "query/filter"   // any mapped leaf field
)

// fieldUse is one field an object references and what for.
type fieldUse struct {
	Field string
	Use   use
}

// typeClasses lists the Elasticsearch/OpenSearch field types each use accepts.
var typeClasses = map[use][]string{
	useTime:     {"date", "date_nanos"},
	useDateHist: {"date", "date_nanos"},
	useTerms:    {"keyword", "constant_keyword", "long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long", "ip", "boolean"},
	useSort:     {"keyword", "constant_keyword", "long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long", "ip", "boolean", "date", "date_nanos"},
	useNumeric:  {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"},
	useAgg:      {"keyword", "constant_keyword", "long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long", "ip", "boolean", "date", "date_nanos"},
}

// mapping maps every explicitly mapped field path (multi-fields included, as rule.name.text) to its type. Fields
// that only dynamic templates would map are absent on purpose: their type is decided per index by the first value
// seen, so a dashboard that relies on them can break on the next day's index.
type mapping map[string]string

// loadMapping reads the explicit mapping of the index template at path.
func loadMapping(path string) (mapping, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t struct {
		Template struct {
			Mappings struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m := mapping{}
	if err := m.add("", t.Template.Mappings.Properties); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func (m mapping) add(prefix string, props map[string]json.RawMessage) error {
	for name, raw := range props {
		var p struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
			Fields     map[string]struct {
				Type string `json:"type"`
			} `json:"fields"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return fmt.Errorf("field %s%s: %w", prefix, name, err)
		}
		path := prefix + name
		switch {
		case p.Properties != nil:
			if err := m.add(path+".", p.Properties); err != nil {
				return err
			}
		case p.Type != "":
			m[path] = p.Type
		default:
			m[path] = "object"
		}
		for sub, f := range p.Fields {
			m[path+"."+sub] = f.Type
		}
	}
	return nil
}

// checkField says why field cannot be used as u, or returns nil.
func (m mapping) checkField(field string, u use) error {
	typ, ok := m[field]
	if !ok {
		return fmt.Errorf("field %q (%s) is not mapped explicitly in sinks/es_template.json", field, u)
	}
	if typ == "object" {
		return fmt.Errorf("field %q (%s) is an object, not a field", field, u)
	}
	accepted, restricted := typeClasses[u]
	if !restricted {
		return nil
	}
	for _, a := range accepted {
		if a == typ {
			return nil
		}
	}
	return fmt.Errorf("field %q is mapped as %s, which a %s cannot use (it needs %s)", field, typ, u, strings.Join(accepted, ", "))
}
