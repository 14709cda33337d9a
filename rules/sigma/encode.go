package sigma

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsoc/vigil/rules"
)

// encode writes the rule file: a comment naming the source and the licence duty, then the rule.
func (c *Converter) encode(src *Rule, r *rules.Rule) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Converted from Sigma by `vigil sigma convert --profile %s`; edit the Sigma rule, not this file.\n", c.Profile.Name)
	var what []string
	if src.ID != "" {
		what = append(what, "Sigma id "+src.ID)
	}
	if src.Name != "" {
		what = append(what, "name "+src.Name)
	}
	fmt.Fprintf(&b, "# Source: %s", src.File)
	if len(what) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(what, ", "))
	}
	b.WriteString("\n")
	b.WriteString("# Keep the author: SigmaHQ rules are under the Detection Rule License 1.1, which requires attribution.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	var doc any = r
	if r.Correlation != nil {
		// rules.Rule writes condition even when empty; a correlation has none.
		var n yaml.Node
		if err := n.Encode(r); err != nil {
			return nil, err
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "condition" {
				n.Content = slices.Delete(n.Content, i, i+2)
				break
			}
		}
		nameReferences(&n, src)
		doc = &n
	}
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// nameReferences comments each id in the correlation's rules with the Sigma name it was written as, so a reviewer
// can read `- sigma.a8418a5a-... # multiple_failed_login` against the Sigma rule.
func nameReferences(n *yaml.Node, src *Rule) {
	if src.Correlation == nil {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value != "correlation" {
			continue
		}
		c := n.Content[i+1]
		for j := 0; j+1 < len(c.Content); j += 2 {
			if c.Content[j].Value != "rules" || len(c.Content[j+1].Content) != len(src.Correlation.Rules) {
				continue
			}
			for k, item := range c.Content[j+1].Content {
				if ref := src.Correlation.Rules[k].Name; !strings.EqualFold("sigma."+ref, item.Value) {
					item.LineComment = ref
				}
			}
		}
	}
}
