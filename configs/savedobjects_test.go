package configs_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
)

// savedObject is one line of a saved objects NDJSON file, as Kibana 8 and OpenSearch Dashboards 2.x export and
// import them (POST /api/saved_objects/_import).
type savedObject struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Attributes map[string]any `json:"attributes"`
	References []reference    `json:"references"`
}

// reference is a saved object's link to another object: its name is what the attributes use (indexRefName,
// panelRefName, a Lens layer), type and id find the object.
type reference struct {
	Name string `json:"name"`
	Type string `json:"type"`
	ID   string `json:"id"`
}

func (o savedObject) String() string { return o.Type + "/" + o.ID }

// readObjects parses an NDJSON file's content: one object a line, blank lines skipped, and the summary line of a
// Kibana export ({"exportedCount": ...}) ignored.
func readObjects(name string, b []byte) ([]savedObject, error) {
	var objs []savedObject
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || bytes.Contains(text, []byte(`"exportedCount"`)) {
			continue
		}
		var o savedObject
		dec := json.NewDecoder(bytes.NewReader(text))
		if err := dec.Decode(&o); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if o.ID == "" || o.Type == "" || o.Attributes == nil {
			return nil, fmt.Errorf("%s:%d: an object needs id, type and attributes", name, line)
		}
		if title, _ := o.Attributes["title"].(string); title == "" {
			return nil, fmt.Errorf("%s:%d: %s has no title", name, line, o)
		}
		objs = append(objs, o)
	}
	return objs, sc.Err()
}

// check returns every problem of a set of objects imported together: fields the index template does not map with
// a usable type, and references that do not resolve. uses holds, per object, the fields it references.
func check(objs []savedObject, m mapping) (uses map[string][]fieldUse, errs []error) {
	byKey := map[string]savedObject{}
	for _, o := range objs {
		if _, dup := byKey[o.String()]; dup {
			errs = append(errs, fmt.Errorf("%s: defined twice", o))
		}
		byKey[o.String()] = o
	}
	uses = map[string][]fieldUse{}
	for _, o := range objs {
		for _, r := range o.References {
			if _, ok := byKey[r.Type+"/"+r.ID]; !ok {
				errs = append(errs, fmt.Errorf("%s: reference %q: %s/%s not found among the imported objects", o, r.Name, r.Type, r.ID))
			}
		}
		u, err := fieldUses(o)
		for _, e := range err {
			errs = append(errs, fmt.Errorf("%s: %w", o, e))
		}
		for _, fu := range u {
			if e := m.checkField(fu.Field, fu.Use); e != nil {
				errs = append(errs, fmt.Errorf("%s: %w", o, e))
			}
		}
		uses[o.String()] = u
	}
	return uses, errs
}

// fieldUses extracts the fields an object references and checks that the names its attributes use for other
// objects (indexRefName, panelRefName, Lens layers) are among its references.
func fieldUses(o savedObject) ([]fieldUse, []error) {
	var uses []fieldUse
	var errs []error
	switch o.Type {
	case "index-pattern":
		tf, _ := o.Attributes["timeFieldName"].(string)
		if tf == "" {
			errs = append(errs, fmt.Errorf("no timeFieldName"))
		}
		uses = append(uses, fieldUse{tf, useTime})
	case "search":
		for _, c := range anySlice(o.Attributes["columns"]) {
			uses = append(uses, fieldUse{fmt.Sprint(c), useColumn})
		}
		for _, s := range anySlice(o.Attributes["sort"]) {
			if pair := anySlice(s); len(pair) == 2 {
				uses = append(uses, fieldUse{fmt.Sprint(pair[0]), useSort})
			} else {
				errs = append(errs, fmt.Errorf("sort %v is not [field, direction]", s))
			}
		}
		uses, errs = searchSource(o, true, uses, errs)
	case "visualization":
		uses, errs = searchSource(o, true, uses, errs)
		u, e := visStateUses(o)
		uses, errs = append(uses, u...), append(errs, e...)
	case "lens":
		u, e := lensUses(o)
		uses, errs = append(uses, u...), append(errs, e...)
	case "dashboard":
		uses, errs = searchSource(o, false, uses, errs)
		errs = append(errs, dashboardPanels(o)...)
	default:
		errs = append(errs, fmt.Errorf("type %q is not checked by this test: teach it", o.Type))
	}
	return uses, errs
}

// searchSource reads kibanaSavedObjectMeta.searchSourceJSON: the query, the filters, and the data view reference.
func searchSource(o savedObject, needIndex bool, uses []fieldUse, errs []error) ([]fieldUse, []error) {
	meta, _ := o.Attributes["kibanaSavedObjectMeta"].(map[string]any)
	raw, _ := meta["searchSourceJSON"].(string)
	var ss struct {
		Query        any              `json:"query"`
		Filter       []map[string]any `json:"filter"`
		IndexRefName string           `json:"indexRefName"`
		Index        string           `json:"index"`
	}
	if err := json.Unmarshal([]byte(raw), &ss); err != nil {
		return uses, append(errs, fmt.Errorf("searchSourceJSON: %w", err))
	}
	if ss.Index != "" {
		errs = append(errs, fmt.Errorf("searchSourceJSON names its data view by id %q: use indexRefName and a reference", ss.Index))
	}
	if needIndex && ss.IndexRefName == "" {
		errs = append(errs, fmt.Errorf("searchSourceJSON has no indexRefName"))
	}
	if ss.IndexRefName != "" {
		errs = append(errs, o.needRef(ss.IndexRefName, "index-pattern")...)
	}
	uses = append(uses, queryUses(ss.Query)...)
	for _, f := range ss.Filter {
		u, e := filterUses(o, f)
		uses, errs = append(uses, u...), append(errs, e...)
	}
	return uses, errs
}

// needRef checks that o has a reference called name, of type typ when typ is not empty.
func (o savedObject) needRef(name, typ string) []error {
	for _, r := range o.References {
		if r.Name == name {
			if typ != "" && r.Type != typ {
				return []error{fmt.Errorf("reference %q is a %s, want %s", name, r.Type, typ)}
			}
			return nil
		}
	}
	return []error{fmt.Errorf("no reference named %q", name)}
}

var (
	quoted    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	queryTerm = regexp.MustCompile(`(?:^|[\s(])([A-Za-z_@][\w@.]*)\s*:`)
)

// queryUses finds the field names of a KQL or Lucene query: the words before a colon outside quoted strings.
func queryUses(q any) []fieldUse {
	qm, _ := q.(map[string]any)
	s, _ := qm["query"].(string)
	var uses []fieldUse
	for _, m := range queryTerm.FindAllStringSubmatch(quoted.ReplaceAllString(s, `""`), -1) {
		uses = append(uses, fieldUse{m[1], useQuery})
	}
	return uses
}

// filterUses reads a filter pill: its meta.key, the fields of its query, and its data view reference.
func filterUses(o savedObject, f map[string]any) ([]fieldUse, []error) {
	var uses []fieldUse
	var errs []error
	meta, _ := f["meta"].(map[string]any)
	if key, _ := meta["key"].(string); key != "" {
		uses = append(uses, fieldUse{key, useQuery})
	}
	if ref, _ := meta["indexRefName"].(string); ref != "" {
		errs = append(errs, o.needRef(ref, "index-pattern")...)
	} else if _, ok := meta["index"]; ok {
		errs = append(errs, fmt.Errorf("a filter names its data view by id: use meta.indexRefName and a reference"))
	}
	q, _ := f["query"].(map[string]any)
	for kind, body := range q {
		bm, _ := body.(map[string]any)
		switch kind {
		case "exists":
			uses = append(uses, fieldUse{fmt.Sprint(bm["field"]), useQuery})
		case "match_phrase", "match", "term", "terms", "range", "prefix", "wildcard":
			for field := range bm {
				uses = append(uses, fieldUse{field, useQuery})
			}
		default:
			errs = append(errs, fmt.Errorf("filter query %q is not checked by this test: teach it", kind))
		}
	}
	return uses, errs
}

// visStateUses reads the aggregations of a legacy (aggregation-based) visualization.
func visStateUses(o savedObject) ([]fieldUse, []error) {
	raw, _ := o.Attributes["visState"].(string)
	var vs struct {
		Type string `json:"type"`
		Aggs []struct {
			Type   string         `json:"type"`
			Params map[string]any `json:"params"`
		} `json:"aggs"`
	}
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		return nil, []error{fmt.Errorf("visState: %w", err)}
	}
	if len(vs.Aggs) == 0 {
		return nil, []error{fmt.Errorf("visState of type %q has no aggregations", vs.Type)}
	}
	var uses []fieldUse
	var errs []error
	for _, a := range vs.Aggs {
		field, _ := a.Params["field"].(string)
		var u use
		switch a.Type {
		case "count":
			continue
		case "date_histogram":
			u = useDateHist
		case "terms", "significant_terms":
			u = useTerms
		case "avg", "sum", "min", "max", "median", "percentiles", "histogram":
			u = useNumeric
		case "cardinality":
			u = useAgg
		default:
			errs = append(errs, fmt.Errorf("aggregation %q is not checked by this test: teach it", a.Type))
			continue
		}
		if field == "" {
			errs = append(errs, fmt.Errorf("%s aggregation without a field", a.Type))
			continue
		}
		uses = append(uses, fieldUse{field, u})
	}
	return uses, errs
}

// lensUses reads a Lens visualization's form-based layers (Kibana 8.6+ "formBased"), its query and filters, and
// checks that every layer has its data view reference.
func lensUses(o savedObject) ([]fieldUse, []error) {
	var attr struct {
		VisualizationType string `json:"visualizationType"`
		State             struct {
			DatasourceStates map[string]struct {
				Layers map[string]struct {
					Columns map[string]struct {
						OperationType string `json:"operationType"`
						SourceField   string `json:"sourceField"`
					} `json:"columns"`
					ColumnOrder []string `json:"columnOrder"`
				} `json:"layers"`
			} `json:"datasourceStates"`
			Query   any              `json:"query"`
			Filters []map[string]any `json:"filters"`
		} `json:"state"`
	}
	b, _ := json.Marshal(o.Attributes)
	if err := json.Unmarshal(b, &attr); err != nil {
		return nil, []error{fmt.Errorf("lens attributes: %w", err)}
	}
	var uses []fieldUse
	var errs []error
	if attr.VisualizationType == "" {
		errs = append(errs, fmt.Errorf("lens without visualizationType"))
	}
	for ds, state := range attr.State.DatasourceStates {
		if ds != "formBased" && len(state.Layers) > 0 {
			errs = append(errs, fmt.Errorf("lens datasource %q: Kibana 8.6+ stores layers under formBased", ds))
		}
		for id, layer := range state.Layers {
			errs = append(errs, o.needRef("indexpattern-datasource-layer-"+id, "index-pattern")...)
			for _, colID := range layer.ColumnOrder {
				if _, ok := layer.Columns[colID]; !ok {
					errs = append(errs, fmt.Errorf("layer %s: columnOrder names a missing column %q", id, colID))
				}
			}
			for colID, c := range layer.Columns {
				u, err := lensUse(c.OperationType, c.SourceField)
				if err != nil {
					errs = append(errs, fmt.Errorf("layer %s column %s: %w", id, colID, err))
				} else if u != "" {
					uses = append(uses, fieldUse{c.SourceField, u})
				}
			}
		}
	}
	uses = append(uses, queryUses(attr.State.Query)...)
	for _, f := range attr.State.Filters {
		u, e := filterUses(o, f)
		uses, errs = append(uses, u...), append(errs, e...)
	}
	return uses, errs
}

// lensUse maps a Lens column's operation to the use of its field; "" when it has none (a count of documents).
func lensUse(op, field string) (use, error) {
	switch op {
	case "count":
		if field == "___records___" {
			return "", nil
		}
		return useAgg, nil
	case "date_histogram":
		return useDateHist, nil
	case "terms":
		return useTerms, nil
	case "sum", "average", "min", "max", "median", "percentile", "standard_deviation", "range":
		return useNumeric, nil
	case "unique_count", "last_value":
		return useAgg, nil
	}
	return "", fmt.Errorf("operation %q is not checked by this test: teach it", op)
}

// dashboardPanels checks that every panel names one of the dashboard's references: Kibana 8 names them
// "<panelIndex>:<panelRefName>", Kibana 7 and OpenSearch Dashboards "<panelRefName>". A Kibana 8 panel's type must
// be its reference's type.
func dashboardPanels(o savedObject) []error {
	raw, _ := o.Attributes["panelsJSON"].(string)
	var panels []struct {
		Type         string `json:"type"`
		PanelIndex   string `json:"panelIndex"`
		PanelRefName string `json:"panelRefName"`
	}
	if err := json.Unmarshal([]byte(raw), &panels); err != nil {
		return []error{fmt.Errorf("panelsJSON: %w", err)}
	}
	if len(panels) == 0 {
		return []error{fmt.Errorf("a dashboard without panels")}
	}
	var errs []error
	for _, p := range panels {
		if p.PanelRefName == "" {
			errs = append(errs, fmt.Errorf("panel %s has no panelRefName (by-value panels are not checked)", p.PanelIndex))
			continue
		}
		name := p.PanelRefName
		if o.needRef(p.PanelIndex+":"+name, "") == nil {
			name = p.PanelIndex + ":" + name
		}
		if e := o.needRef(name, p.Type); e != nil {
			errs = append(errs, fmt.Errorf("panel %s: %w", p.PanelIndex, e[0]))
		}
	}
	return errs
}

// dashboardFields returns, for each dashboard, every field use of the objects its panels show, as "field (use)".
func dashboardFields(objs []savedObject, uses map[string][]fieldUse) map[string][]string {
	out := map[string][]string{}
	for _, o := range objs {
		if o.Type != "dashboard" {
			continue
		}
		seen := map[string]bool{}
		for _, r := range o.References {
			for _, u := range uses[r.Type+"/"+r.ID] {
				seen[fmt.Sprintf("%s (%s)", u.Field, u.Use)] = true
			}
		}
		for k := range seen {
			out[o.ID] = append(out[o.ID], k)
		}
		sort.Strings(out[o.ID])
	}
	return out
}

func anySlice(v any) []any {
	s, _ := v.([]any)
	return s
}
