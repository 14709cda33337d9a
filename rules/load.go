package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Files expands paths (files or folders, searched recursively) into the rule files they hold: *.yml and *.yaml,
// sorted, skipping hidden files and folders. A path named explicitly is used whatever its extension.
func Files(paths ...string) ([]string, error) {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml")) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// Load parses every rule file under paths. It reads all files and returns every format error it finds; rules from
// files without errors are returned alongside. Files are read and parsed over GOMAXPROCS workers; rules and errors
// come in the order of the files, as one at a time.
func Load(paths ...string) ([]*Rule, error) {
	files, err := Files(paths...)
	if err != nil {
		return nil, err
	}
	parsed, errs := make([][]*Rule, len(files)), make([]error, len(files))
	parallel(len(files), func(i int) {
		data, err := os.ReadFile(files[i])
		if err != nil {
			errs[i] = fmt.Errorf("rules: %w", err)
			return
		}
		parsed[i], errs[i] = Parse(files[i], data)
	})
	var all []*Rule
	for _, rs := range parsed {
		all = append(all, rs...)
	}
	return all, errors.Join(errs...)
}

// eachFile calls fn with the name and content of every YAML file under paths (Files), and returns every error,
// fn's and the files' that cannot be read, joined.
func eachFile(paths []string, fn func(file string, data []byte) []error) error {
	files, err := Files(paths...)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("rules: %w", err))
			continue
		}
		errs = append(errs, fn(f, data)...)
	}
	return errors.Join(errs...)
}

// LoadSet loads and compiles the rules under paths into one set, with the exception lists in the folders beside
// them (DefaultExceptionPaths). Any error leaves the set nil.
func (e *Env) LoadSet(paths ...string) (*RuleSet, error) {
	return e.LoadSetWith(paths, nil)
}
