package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
	fs := newFlags("vigil sigma convert", "vigil sigma convert [--profile NAME|FILE] [--out DIR] [--filters DIR] [--verbose] PATH...", io)
	profile := fs.String("profile", "windows-flat", fmt.Sprintf(profileHelp, strings.Join(sigma.ProfileNames(), ", ")))
	out := fs.String("out", "", "write one rule file per Sigma file under DIR, keeping the folder layout (default: all rules to stdout)")
	placeholders := fs.String("placeholders", "", "YAML file with the values of %placeholders% (expand modifier): {name: [value, ...]}")
	unguarded := fs.Bool("enable-unguarded", false, "keep rules enabled whose log source the profile does not map (converted disabled by default)")
	verbose := fs.Bool("verbose", false, "print every note on its own line with its rule (by default notes are counted by reason, with a few rule ids)")
	filters := fs.StringSlice("filters", nil, "Sigma filter files or folders: each becomes an exception list that the rules it applies to name")
	filtersFile := fs.String("filters-out", "", "where --filters writes the exception lists (default: exceptions/sigma_filters.yaml beside --out)")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	listsPath := filtersOut(*filtersFile, *out)
	if len(*filters) > 0 && listsPath == "" {
		fmt.Fprintln(io.err, "vigil sigma convert: --filters needs --out or --filters-out (the exception lists are a file of their own)")
		return 2
	}
	conv, err := newSigmaConverter(*profile, *placeholders)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	conv.EnableUnguarded = *unguarded
	badFilters := 0
	if len(*filters) > 0 {
		if conv.Filters, badFilters, err = readSigmaFilters(*filters, io); err != nil {
			fmt.Fprintln(io.err, err)
			return 1
		}
	}
	report := io.out
	if *out == "" {
		report = io.err // stdout carries the rules
	}
	// Every file is read before any is converted: a correlation rule may name rules of any file.
	files, err := readSigmaFiles(fs.Args())
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	stats, err := convertSigmaFiles(conv, files, *out, *verbose, io)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 1
	}
	stats.print(report)
	if len(*filters) > 0 {
		if err := writeSigmaFilters(conv, listsPath, badFilters, io, report); err != nil {
			fmt.Fprintln(io.err, err)
			return 1
		}
	}
	return 0
}

// convertSigmaFiles converts the rules of all files together, so that correlation rules find the rules they name in
// any file, and writes each file's rules (see writeConverted).
func convertSigmaFiles(conv *sigma.Converter, files []*sigmaFile, out string, verbose bool, io stdio) (*convertStats, error) {
	var all []*sigma.Rule
	for _, f := range files {
		all = append(all, f.rules...)
	}
	results, errs := conv.ConvertAll(all)
	byFile := map[string][]*sigma.Result{}
	for _, res := range results {
		byFile[res.Source.File] = append(byFile[res.Source.File], res)
	}
	errsByFile := map[string][]error{}
	for _, err := range errs {
		var ue *sigma.UnsupportedError
		file := ""
		if errors.As(err, &ue) {
			file = ue.File
		}
		errsByFile[file] = append(errsByFile[file], err)
	}
	stats := &convertStats{verbose: verbose}
	for _, f := range files {
		docs := stats.report(byFile[f.path], append(f.errs, errsByFile[f.path]...), io)
		if len(docs) == 0 {
			continue
		}
		if err := writeConverted(out, f.arg, f.path, docs, io); err != nil {
			return nil, err
		}
	}
	stats.report(nil, errsByFile[""], io)
	return stats, nil
}

// sigmaFile is one Sigma file to convert: the argument it was found under, and its rules and parse errors.
type sigmaFile struct {
	arg, path string
	rules     []*sigma.Rule
	errs      []error
}

// readSigmaFiles reads and parses the Sigma files under args, each once.
func readSigmaFiles(args []string) ([]*sigmaFile, error) {
	var out []*sigmaFile
	seen := map[string]bool{}
	for _, arg := range args {
		paths, err := rules.Files(arg)
		if err != nil {
			return nil, err
		}
		for _, p := range paths {
			if seen[filepath.Clean(p)] {
				continue
			}
			seen[filepath.Clean(p)] = true
			data, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("sigma: %w", err)
			}
			f := &sigmaFile{arg: arg, path: p}
			f.rules, f.errs = sigma.Parse(p, data)
			out = append(out, f)
		}
	}
	return out, nil
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
	converted, disabled, correlations int
	unsupported                       map[string]int
	// notes are the notes of the converted rules by reason, in the order their reasons first came.
	notes []*noteGroup
	// verbose prints each note on its own line as it comes.
	verbose bool
}

// noteGroup counts the notes of one reason and keeps the first few rules they concern, of different subjects.
type noteGroup struct {
	reason   string
	n        int
	examples []string
	subjects map[string]bool
}

// noteExamples is how many rules the summary names per reason.
const noteExamples = 3

// report counts the rules converted from one file and the errors of its rules, reporting each rule that cannot be
// converted on one line, and each note too when verbose. It returns the rule files to write.
func (s *convertStats) report(results []*sigma.Result, errs []error, io stdio) [][]byte {
	var docs [][]byte
	for _, res := range results {
		s.converted++
		if !res.Rule.IsEnabled() {
			s.disabled++
		}
		if res.Rule.Correlation != nil {
			s.correlations++
		}
		id := res.Source.ID
		if id == "" {
			id = res.Rule.ID
		}
		for _, n := range res.Notes {
			if s.verbose {
				fmt.Fprintf(io.err, "note: %s: rule %s: %s\n", res.Source.File, id, n)
			}
			s.note(n, res.Rule.ID)
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
	return docs
}

// note counts a note of the rule converted as id.
func (s *convertStats) note(n sigma.Note, id string) {
	i := slices.IndexFunc(s.notes, func(g *noteGroup) bool { return g.reason == n.Reason })
	if i < 0 {
		s.notes = append(s.notes, &noteGroup{reason: n.Reason})
		i = len(s.notes) - 1
	}
	g := s.notes[i]
	g.n++
	if len(g.examples) < noteExamples && !g.subjects[n.Subject] {
		if g.subjects == nil {
			g.subjects = map[string]bool{}
		}
		g.subjects[n.Subject] = true
		if n.Subject != "" {
			id += " (" + n.Subject + ")"
		}
		g.examples = append(g.examples, id)
	}
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
	var corr string
	if s.correlations > 0 {
		corr = fmt.Sprintf(", %d correlations", s.correlations)
	}
	fmt.Fprintf(w, "converted %d rules (%d of them disabled%s), %d unsupported\n", s.converted, s.disabled, corr, total)
	for _, r := range reasons {
		fmt.Fprintf(w, "  %5d %s\n", s.unsupported[r], r)
	}
	if len(s.notes) == 0 {
		return
	}
	groups := slices.Clone(s.notes)
	slices.SortStableFunc(groups, func(a, b *noteGroup) int { return b.n - a.n })
	more := " (--verbose lists them all)"
	if s.verbose {
		more = ""
	}
	fmt.Fprintf(w, "notes, by reason%s:\n", more)
	for _, g := range groups {
		fmt.Fprintf(w, "  %5d %s\n", g.n, g.reason)
		fmt.Fprintf(w, "        e.g. %s\n", strings.Join(g.examples, ", "))
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
	var skipped string
	if run.Correlations > 0 {
		skipped = fmt.Sprintf("; %d correlation rules skipped: they have no regression data", run.Correlations)
	}
	fmt.Fprintf(io.out, "%d passed, %d failed (%d rules name regression data that is not under %s%s)\n",
		len(run.Results)-failed, failed, run.NoData, *root, skipped)
	if failed > 0 {
		return 1
	}
	return 0
}
