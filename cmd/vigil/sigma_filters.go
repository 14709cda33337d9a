package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/rules/sigma"
)

// readSigmaFilters parses the Sigma filters under paths (files or folders). Documents that are not valid filters
// are printed as unsupported and counted; the others are returned.
func readSigmaFilters(paths []string, io stdio) ([]*sigma.Filter, int, error) {
	files, err := rules.Files(paths...)
	if err != nil {
		return nil, 0, err
	}
	var out []*sigma.Filter
	bad := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, 0, fmt.Errorf("sigma: %w", err)
		}
		fs, errs := sigma.ParseFilters(f, data)
		for _, err := range errs {
			fmt.Fprintln(io.err, "unsupported:", err)
		}
		out, bad = append(out, fs...), bad+len(errs)
	}
	return out, bad, nil
}

// filtersOut is where the filters' exception lists go: the given file, or exceptions/sigma_filters.yaml beside the
// output folder, where `vigil run` and `vigil replay --rules OUT` look for exception lists by default.
func filtersOut(file, out string) string {
	if file != "" || out == "" {
		return file
	}
	return filepath.Join(filepath.Dir(filepath.Clean(out)), "exceptions", "sigma_filters.yaml")
}

// writeSigmaFilters writes the exception lists of the filters conv applied to path and reports them.
func writeSigmaFilters(conv *sigma.Converter, path string, unsupported int, io stdio, report interface{ Write([]byte) (int, error) }) error {
	data, n, err := conv.FilterLists()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("sigma: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("sigma: %w", err)
	}
	fmt.Fprintf(report, "filters: %d of %d converted into exception lists in %s (%d rules name one), %d unsupported\n",
		n, len(conv.Filters), path, conv.FilteredRules(), unsupported)
	return nil
}
