package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsoc/vigil/rules"
	"github.com/vigilsoc/vigil/rules/sigma"
)

func cmdSigma(args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprintln(io.err, "usage: vigil sigma convert|test ...")
		return 2
	}
	switch args[0] {
	case "convert":
		return cmdSigmaConvert(args[1:], io)
	case "test":
		return cmdSigmaTest(args[1:], io)
	default:
		fmt.Fprintf(io.err, "vigil sigma: unknown command %q (want convert or test)\n", args[0])
		return 2
	}
}

const profileHelp = "field-mapping profile: a built-in one (%s) or a profile file"

func cmdSigmaConvert(args []string, io stdio) int {
	fs := newFlags("vigil sigma convert", "vigil sigma convert [--profile NAME|FILE] [--out DIR] PATH...", io)
	profile := fs.String("profile", "windows-flat", fmt.Sprintf(profileHelp, strings.Join(sigma.ProfileNames(), ", ")))
	out := fs.String("out", "", "write one rule file per Sigma file under DIR, keeping the folder layout (default: all rules to stdout)")
	placeholders := fs.String("placeholders", "", "YAML file with the values of %placeholders% (expand modifier): {name: [value, ...]}")
	unguarded := fs.Bool("enable-unguarded", false, "keep rules enabled whose log source the profile does not map (converted disabled by default)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	conv, err := newSigmaConverter(*profile, *placeholders)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	conv.EnableUnguarded = *unguarded
	report := io.out
	if *out == "" {
		report = io.err // stdout carries the rules
	}
	var stats convertStats
	for _, arg := range fs.Args() {
		files, err := rules.Files(arg)
		if err != nil {
			fmt.Fprintln(io.err, err)
			return 1
		}
		for _, f := range files {
			docs, err := stats.convertFile(conv, f, io)
			if err != nil {
				fmt.Fprintln(io.err, err)
				return 1
			}
			if len(docs) == 0 {
				continue
			}
			if err := writeConverted(*out, arg, f, docs, io); err != nil {
				fmt.Fprintln(io.err, err)
				return 1
			}
		}
	}
	stats.print(report)
	return 0
}

// newSigmaConverter builds a converter compiling in the CLI's rule environment.
func newSigmaConverter(profile, placeholderFile string) (*sigma.Converter, error) {
	p, err := sigma.LoadProfile(profile)
	if err != nil {
		return nil, err
	}
	env, err := newRuleEnv()
	if err != nil {
		return nil, err
	}
	conv := &sigma.Converter{Profile: p, Env: env}
	if placeholderFile != "" {
		data, err := os.ReadFile(placeholderFile)
		if err != nil {
			return nil, fmt.Errorf("sigma: placeholders: %w", err)
		}
		if err := yaml.Unmarshal(data, &conv.Placeholders); err != nil {
			return nil, fmt.Errorf("sigma: placeholders %s: %w", placeholderFile, err)
		}
	}
	return conv, nil
}

type convertStats struct {
	converted, disabled int
	unsupported         map[string]int
}

// convertFile converts the rules of one Sigma file, reporting each rule that cannot be converted on one line.
func (s *convertStats) convertFile(conv *sigma.Converter, file string, io stdio) ([][]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("sigma: %w", err)
	}
	parsed, errs := sigma.Parse(file, data)
	var docs [][]byte
	for _, r := range parsed {
		res, err := conv.Convert(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.converted++
		if !res.Rule.IsEnabled() {
			s.disabled++
		}
		for _, n := range res.Notes {
			fmt.Fprintf(io.err, "note: %s: rule %s: %s\n", file, r.ID, n)
		}
		docs = append(docs, res.YAML)
	}
	for _, err := range errs {
		var ue *sigma.UnsupportedError
		reason := "error"
		if errors.As(err, &ue) {
			reason = ue.Reason
		}
		if s.unsupported == nil {
			s.unsupported = map[string]int{}
		}
		s.unsupported[reason]++
		fmt.Fprintf(io.err, "unsupported: %v\n", err)
	}
	return docs, nil
}

func (s *convertStats) print(w interface{ Write([]byte) (int, error) }) {
	total := 0
	reasons := make([]string, 0, len(s.unsupported))
	for r, n := range s.unsupported {
		reasons = append(reasons, r)
		total += n
	}
	sort.Slice(reasons, func(i, j int) bool {
		if s.unsupported[reasons[i]] != s.unsupported[reasons[j]] {
			return s.unsupported[reasons[i]] > s.unsupported[reasons[j]]
		}
		return reasons[i] < reasons[j]
	})
	fmt.Fprintf(w, "converted %d rules (%d of them disabled), %d unsupported\n", s.converted, s.disabled, total)
	for _, r := range reasons {
		fmt.Fprintf(w, "  %5d %s\n", s.unsupported[r], r)
	}
}

// writeConverted writes the rules converted from file: under dir at file's path relative to the argument it was
// found under, or to stdout as one multi-document rule file.
func writeConverted(dir, arg, file string, docs [][]byte, io stdio) error {
	if dir == "" {
		for _, d := range docs {
			if _, err := fmt.Fprintf(io.out, "---\n%s", d); err != nil {
				return err
			}
		}
		return nil
	}
	rel, err := filepath.Rel(arg, file)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		rel = filepath.Base(file)
	}
	dst := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("sigma: %w", err)
	}
	var joined []byte
	for i, d := range docs {
		if i > 0 {
			joined = append(joined, "---\n"...)
		}
		joined = append(joined, d...)
	}
	if err := os.WriteFile(dst, joined, 0o644); err != nil {
		return fmt.Errorf("sigma: %w", err)
	}
	return nil
}

func cmdSigmaTest(args []string, io stdio) int {
	fs := newFlags("vigil sigma test", "vigil sigma test --root DIR [--profile windows-flat] [PATH...]", io)
	root := fs.String("root", "", "a folder laid out like the SigmaHQ repository (rules*/, regression_data/)")
	profile := fs.String("profile", "windows-flat", fmt.Sprintf(profileHelp, strings.Join(sigma.ProfileNames(), ", ")))
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *root == "" {
		fs.Usage()
		return 2
	}
	conv, err := newSigmaConverter(*profile, "")
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	run, err := sigma.RunRegression(*root, fs.Args(), conv)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	failed := 0
	for _, r := range run.Results {
		switch {
		case r.Err != nil:
			failed++
			fmt.Fprintf(io.out, "FAIL %s %s: %v\n", r.File, r.RuleID, r.Err)
		case !r.OK():
			failed++
			fmt.Fprintf(io.out, "FAIL %s %s: %s\n", r.File, r.RuleID, strings.Join(r.Failures, "; "))
		default:
			fmt.Fprintf(io.out, "ok   %s %s: %d of %d events matched (want at least %d)\n", r.File, r.RuleID, r.Matched, r.Events, r.Want)
		}
	}
	fmt.Fprintf(io.out, "%d passed, %d failed (%d rules name regression data that is not under %s)\n",
		len(run.Results)-failed, failed, run.NoData, *root)
	if failed > 0 {
		return 1
	}
	return 0
}
