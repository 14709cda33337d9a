package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// itemRef finds the list item a validation error is about: "sources[1]" or "sinks[2]", and within a notify sink
// "routes[0]".
var (
	itemRef  = regexp.MustCompile(`^(sources|sinks)\[(\d+)\]`)
	routeRef = regexp.MustCompile(`^sinks\[\d+\]: notify: routes\[(\d+)\]`)
)

// withLines puts the line of the list item each validation error names in front of it ("line 12: sinks[2]: ..."),
// as the YAML decoder does for its errors. Errors it cannot place are left as they are.
func withLines(path string, err error) error {
	data, rerr := os.ReadFile(path)
	if rerr != nil {
		return err
	}
	data, _ = expandEnvRefs(data, false) // line by line: the lines stay where they are
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 {
		return err
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for i, e := range errs {
		if line := errorLine(root.Content[0], e.Error()); line > 0 {
			errs[i] = fmt.Errorf("line %d: %w", line, e)
		}
	}
	return errors.Join(errs...)
}

// errorLine returns the line of the item an error message starts with, 0 when it names none.
func errorLine(doc *yaml.Node, msg string) int {
	m := itemRef.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	i, _ := strconv.Atoi(m[2])
	item := listItem(mapValue(doc, m[1]), i)
	if r := routeRef.FindStringSubmatch(msg); r != nil {
		j, _ := strconv.Atoi(r[1])
		if route := listItem(mapValue(mapValue(item, "notify"), "routes"), j); route != nil {
			item = route
		}
	}
	if item == nil {
		return 0
	}
	return item.Line
}

// mapValue returns the value of key in a mapping node, nil when there is none.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		if n.Content[k].Value == key {
			return n.Content[k+1]
		}
	}
	return nil
}

// listItem returns the i-th item of a sequence node, nil when there is none.
func listItem(n *yaml.Node, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}
