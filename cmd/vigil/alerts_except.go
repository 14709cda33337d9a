package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/pflag"

	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/sinks"
)

// exceptFlags are the flags of `vigil alerts close --except EXPR`: the exception, the list it goes to, and where
// the rules and lists are (docs/rules.md, "Exception lists").
type exceptFlags struct {
	expr, list, enrich string
	rules, exceptions  *[]string
	exc                *exceptionsFlag
	cfgPath            *string
}

func addExceptFlags(fs *pflag.FlagSet) *exceptFlags {
	x := &exceptFlags{}
	fs.StringVar(&x.expr, "except", "", "add this CEL expression to the rule's exception list before closing, so that later matches are suppressed")
	fs.StringVar(&x.list, "list", "", "the exception list for --except (default: the rule's first exceptions_from list, else a list named like the rule id)")
	x.rules = fs.StringSlice("rules", nil, "rule files or folders, for --except (default: rules.paths of -c FILE)")
	fs.StringVar(&x.enrich, "enrich", "", "config whose enrich block declares the lookup tables --except may call (default: -c FILE)")
	x.exc = addExceptionsFlag(fs)
	return x
}

// check validates the flags before anything is changed; cfgPath is -c.
func (x *exceptFlags) check(ids int, cfgPath *string) error {
	x.cfgPath = cfgPath
	switch {
	case x.expr == "" && x.list != "":
		return errors.New("--list needs --except")
	case x.expr == "":
		return nil
	case ids != 1:
		return errors.New("--except closes one alert at a time")
	}
	if len(*x.rules) == 0 && *cfgPath != "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			return fmt.Errorf("--except: the rules of %s: %w (or give --rules)", *cfgPath, err)
		}
		*x.rules = cfg.Rules.Paths
		if cfg.Rules.Exceptions != nil {
			x.exceptions = &cfg.Rules.Exceptions
		}
	}
	if len(*x.rules) == 0 {
		return errors.New("--except needs the rules: --rules PATH or -c FILE")
	}
	return nil
}

// exceptionPaths are the exception list paths: --exceptions, the config's, or nil for the default.
func (x *exceptFlags) exceptionPaths() []string {
	if p := x.exc.paths(); p != nil {
		return p
	}
	if x.exceptions != nil {
		return *x.exceptions
	}
	return nil
}

// add appends the exception to the list of the rule of alert doc, after checking that it compiles in the rule
// set's environment, and checks that the rule set still loads with it (else the file is restored).
func (x *exceptFlags) add(doc map[string]any, t sinks.Triage, io stdio) error {
	ruleID, _ := lookup(doc, "rule.id").(string)
	enrich := x.enrich
	if enrich == "" && *x.cfgPath != "" {
		enrich = *x.cfgPath
	}
	env, _, err := ruleEnvFromFlag(enrich)
	if err != nil {
		return err
	}
	r, err := findRule(*x.rules, ruleID)
	if err != nil {
		return err
	}
	if err := env.CheckException(x.expr); err != nil {
		return fmt.Errorf("--except %q: %w", x.expr, err)
	}
	list, file, err := x.target(env, r)
	if err != nil {
		return err
	}
	entry := rules.ExceptionEntry{Expr: x.expr, By: t.By, At: time.Now().UTC().Format(time.RFC3339), Reason: t.Reason}
	if t.Note != "" {
		entry.Reason += ": " + t.Note
	}
	if err := rules.AppendException(file, list, entry); err != nil {
		return err
	}
	if _, err := env.LoadSetWith(*x.rules, x.exceptionPaths()); err != nil {
		return fmt.Errorf("the rules do not load with the new exception in %s (remove it): %w", file, err)
	}
	fmt.Fprintf(io.out, "exception %s added to list %s (%s) of rule %s; the rules reload with it\n", x.expr, list, file, ruleID)
	return nil
}

// findRule parses the rules under paths and returns the rule with id.
func findRule(paths []string, id string) (*rules.Rule, error) {
	parsed, err := rules.Load(paths...)
	if err != nil {
		return nil, err
	}
	for _, r := range parsed {
		if r.ID == id {
			if r.Correlation != nil {
				return nil, fmt.Errorf("rule %s is a correlation; exceptions go on the rules it correlates", id)
			}
			return r, nil
		}
	}
	return nil, fmt.Errorf("rule %q of the alert is not under %v", id, paths)
}

// target is the list the exception goes to and its file: --list, else the rule's first exceptions_from list, else
// a list named like the rule id, in a new file <id>.yaml of the first exception folder when it does not exist.
func (x *exceptFlags) target(env *rules.Env, r *rules.Rule) (list, file string, err error) {
	list = x.list
	switch {
	case list == "" && len(r.ExceptionsFrom) > 0:
		list = r.ExceptionsFrom[0]
	case list == "":
		list = r.ID
	case list != r.ID && !slices.Contains(r.ExceptionsFrom, list):
		return "", "", fmt.Errorf("--list %s: rule %s does not use it (its exceptions_from: %v)", list, r.ID, r.ExceptionsFrom)
	}
	ls, err := env.LoadExceptionLists(*x.rules, x.exceptionPaths())
	if err != nil {
		return "", "", err
	}
	if l := ls.List(list); l != nil {
		return list, l.Source.File, nil
	}
	dirs := x.exceptionPaths()
	if dirs == nil {
		dirs = []string{filepath.Join(filepath.Dir(filepath.Clean((*x.rules)[0])), "exceptions")}
	}
	return list, filepath.Join(dirs[0], list+".yaml"), nil
}
