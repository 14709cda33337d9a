package main

import (
	"errors"

	"github.com/spf13/pflag"

	"github.com/vigilsoc/vigil/rules"
)

// exceptionsFlag is the --exceptions flag of the commands that load rules: where the exception lists are.
type exceptionsFlag struct {
	fs   *pflag.FlagSet
	list *[]string
}

func addExceptionsFlag(fs *pflag.FlagSet) *exceptionsFlag {
	return &exceptionsFlag{fs: fs, list: fs.StringSlice("exceptions", nil,
		"exception list files or folders (repeatable; default: the folder \"exceptions\" beside each rule path)")}
}

// paths are the paths given, or nil for the default.
func (f *exceptionsFlag) paths() []string {
	if !f.fs.Changed("exceptions") {
		return nil
	}
	return *f.list
}

// loadRuleFiles parses the rules under paths and gives them the exception lists under exceptions (nil: beside the
// rules), compiled in env. Every error is returned; the rules parsed are returned in any case.
func loadRuleFiles(env *rules.Env, paths, exceptions []string) ([]*rules.Rule, error) {
	parsed, err := rules.Load(paths...)
	ls, lerr := env.LoadExceptionLists(paths, exceptions)
	return parsed, errors.Join(err, lerr, ls.Apply(parsed))
}
