package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/vigilsoc/vigil/fleet"
	"github.com/vigilsoc/vigil/rules"
)

// modeShadowLine is the line that puts a rule in shadow mode, removed on promotion.
var modeShadowLine = regexp.MustCompile(`(?m)^mode:[ \t]*["']?shadow["']?[ \t]*(#.*)?\r?\n`)

func cmdRulesPromote(args []string, io stdio) int {
	fs := newFlags("vigil rules promote", "vigil rules promote -c FILE [--message M] [--wait D] ID", io)
	ff := addFleetConfigFlag(fs)
	pf := addPublishFlags(fs)
	return runFleetCommand(fs, ff, args, 1, io, func(ctx context.Context, cfg *Config, client *fleet.Client, history []fleet.Deployed) error {
		if fs.Arg(0) == "" {
			return fmt.Errorf("which rule? give its id")
		}
		live := fleet.Current(history)
		if live == nil || live.Bundle == nil {
			return fmt.Errorf("no live bundle to promote into")
		}
		var shadow *fleet.Bundle
		if s := fleet.CurrentShadow(history); s != nil {
			shadow = s.Bundle
		}
		b, from, err := promote(live.Bundle, shadow, fs.Arg(0))
		if err != nil {
			return err
		}
		if err := testBundle(cfg, b, *ff.config, io); err != nil {
			return err
		}
		what := "promote " + fs.Arg(0) + " from " + from
		return pf.publish(ctx, client, b, what, fmt.Sprintf("deployed bundle %s: %s", b.Version, what), io)
	})
}

// promote returns a live bundle made of live with rule id in live mode: the shadow bundle's version of the rule
// replaces the live one in its file (or goes to rules/promoted/<id>.yaml when the rule is new); without a shadow
// version, a rule of live in mode: shadow loses its mode line. from says where the promoted version came from.
func promote(live, shadow *fleet.Bundle, id string) (*fleet.Bundle, string, error) {
	text, from := "", ""
	if shadow != nil {
		if _, doc := bundleRule(shadow, id); doc != "" {
			text, from = doc, "shadow bundle "+shadow.Version
		}
	}
	at, doc := bundleRule(live, id)
	if text == "" {
		if doc == "" || !modeShadowLine.MatchString(doc) {
			return nil, "", fmt.Errorf("rule %s is neither in the shadow bundle nor in shadow mode in the live bundle %s", id, live.Version)
		}
		text, from = doc, "shadow mode in bundle "+live.Version
	}
	text = modeShadowLine.ReplaceAllString(text, "")
	b := &fleet.Bundle{Files: append([]fleet.File(nil), live.Files...)}
	if at < 0 {
		b.Files = append(b.Files, fleet.File{Path: fleet.RulesDir + "/promoted/" + id + ".yaml", Data: text})
	} else {
		b.Files[at].Data = strings.Replace(b.Files[at].Data, doc, text, 1)
	}
	b.Seal()
	if b.Version == live.Version {
		return nil, "", fmt.Errorf("rule %s: the live bundle %s already runs that version", id, live.Version)
	}
	return b, from, nil
}

// bundleRule returns the index of the file of b that holds rule id and the rule's document text, or -1 and "".
func bundleRule(b *fleet.Bundle, id string) (int, string) {
	for i, f := range b.Files {
		if !strings.HasPrefix(f.Path, fleet.RulesDir+"/") {
			continue
		}
		parsed, _ := rules.Parse(f.Path, []byte(f.Data))
		for _, r := range parsed {
			if r.ID == id {
				return i, string(r.Text)
			}
		}
	}
	return -1, ""
}

// testBundle runs `vigil rules test` on the bundle's files (with the configuration's lookup tables) and compiles it
// as the instances will, as `vigil rules deploy` does before publishing.
func testBundle(cfg *Config, b *fleet.Bundle, cfgPath string, io stdio) error {
	dir, err := os.MkdirTemp("", "vigil-promote-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rp, ep, err := b.Materialize(dir)
	if err != nil {
		return err
	}
	if code := cmdRulesTest([]string{"--enrich", cfgPath, "--exceptions", ep, rp}, io); code != 0 {
		return fmt.Errorf("nothing deployed: the rules do not validate or their tests fail")
	}
	return compileForFleet(cfg, b)
}

// cmdRulesShadowStop publishes an empty shadow bundle: the instances stop running shadow rules.
func cmdRulesShadowStop(args []string, io stdio) int {
	fs := newFlags("vigil rules shadow-stop", "vigil rules shadow-stop -c FILE [--message M] [--wait D]", io)
	ff := addFleetConfigFlag(fs)
	pf := addPublishFlags(fs)
	return runFleetCommand(fs, ff, args, 0, io, func(ctx context.Context, _ *Config, client *fleet.Client, _ []fleet.Deployed) error {
		b := &fleet.Bundle{Shadow: true}
		b.Seal()
		return pf.publish(ctx, client, b, "stop the shadow rules", "published an empty shadow bundle: the instances stop their shadow rules", io)
	})
}
