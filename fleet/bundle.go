// Package fleet deploys rules to many Vigil instances through Kafka (docs/fleet.md). `vigil rules deploy` packs the
// rule files and exception lists into one Bundle, identified by the hash of its content, and publishes it to a
// compacted topic (default vigil.rules, one partition, so that the order of deploys is the order of the log).
// Instances configured with `rules: {from: kafka}` read the topic: the last bundle record is the one to run. Each
// instance publishes what it runs, and what it refused and why, to a compacted status topic (default
// vigil.rules-status, keyed by instance id), which `vigil rules status` reads.
//
// The bundle record's key is the bundle version, so compaction keeps one record per version (the latest deploy of
// it): the topic is also the history, and a rollback is a new deploy of an old version's record. The value is the
// bundle as gzip-compressed JSON; a bundle must fit in one Kafka record (MaxBundleBytes, default 1 MB, the broker's
// default message.max.bytes; the topic is created with max.message.bytes set to the same bound).
package fleet

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vigilsoc/vigil/rules"
)

// Bundle is one deployable rule set: every rule file and exception list file, and who deployed it, when and why.
type Bundle struct {
	// Version is the first 12 hex digits of Hash: what instances report and rollback takes.
	Version string `json:"version"`
	// Hash is the SHA-256 of the files (names and contents, in name order); the same files give the same hash.
	Hash string `json:"hash"`
	// Author, Message and Time describe the deploy (a rollback is a deploy too).
	Author  string    `json:"author"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
	// Files are the rule files (under "rules/") and exception list files (under "exceptions/").
	Files []File `json:"files"`
	// Shadow makes this the shadow bundle (`vigil rules deploy --shadow`): instances run its rules beside the live
	// bundle's, in shadow mode (docs/fleet.md, "Shadow mode"). A shadow bundle without files stops shadowing. It is
	// not part of the hash: the same files have one version, live or shadow.
	Shadow bool `json:"shadow,omitempty"`
}

// ShadowKeyPrefix starts the record key of a shadow bundle; a live bundle's key is its version.
const ShadowKeyPrefix = "shadow:"

// Key is the bundle's record key: its version, after ShadowKeyPrefix for a shadow bundle. Compaction keeps the latest
// record of each key.
func (b *Bundle) Key() string {
	if b.Shadow {
		return ShadowKeyPrefix + b.Version
	}
	return b.Version
}

// File is one file of a bundle.
type File struct {
	// Path is relative and slash-separated: rules/<folder>/<file> or exceptions/<folder>/<file>.
	Path string `json:"path"`
	// Data is the file's text (a string, so that the JSON holds text, which compresses well, not base64).
	Data string `json:"data"`
}

// Folders of a bundle's files.
const (
	RulesDir      = "rules"
	ExceptionsDir = "exceptions"
)

// Build packs the rule files under rulePaths and the exception list files under exceptionPaths (nil: the folders
// beside the rules, rules.DefaultExceptionPaths) into a bundle, and sets its hash and version. A folder keeps its
// name and layout inside the bundle; a file given by name is put under its base name.
func Build(rulePaths, exceptionPaths []string) (*Bundle, error) {
	if exceptionPaths == nil {
		exceptionPaths = rules.DefaultExceptionPaths(rulePaths...)
	}
	b := &Bundle{}
	for _, part := range []struct {
		dir   string
		paths []string
	}{{RulesDir, rulePaths}, {ExceptionsDir, exceptionPaths}} {
		for _, p := range part.paths {
			if err := b.add(part.dir, p); err != nil {
				return nil, err
			}
		}
	}
	if !slices.ContainsFunc(b.Files, func(f File) bool { return strings.HasPrefix(f.Path, RulesDir+"/") }) {
		return nil, fmt.Errorf("bundle: no rule files under %s", strings.Join(rulePaths, ", "))
	}
	b.Seal()
	return b, nil
}

// add adds the files under p (a file, or a folder searched as rules.Files does) under dir.
func (b *Bundle) add(dir, p string) error {
	files, err := rules.Files(p)
	if err != nil {
		return err
	}
	root := filepath.Clean(p)
	base := filepath.Base(root)
	for _, f := range files {
		rel := filepath.Base(f)
		if f != p {
			r, err := filepath.Rel(root, f)
			if err != nil {
				return err
			}
			rel = filepath.Join(base, r)
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
		name := dir + "/" + filepath.ToSlash(rel)
		if slices.ContainsFunc(b.Files, func(x File) bool { return x.Path == name }) {
			return fmt.Errorf("bundle: two files would be %s (rename a folder or file): %s", name, f)
		}
		b.Files = append(b.Files, File{Path: name, Data: string(data)})
	}
	return nil
}

// Seal sorts the files and sets Hash and Version from them.
func (b *Bundle) Seal() {
	slices.SortFunc(b.Files, func(x, y File) int { return strings.Compare(x.Path, y.Path) })
	h := sha256.New()
	for _, f := range b.Files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.Path, len(f.Data))
		h.Write([]byte(f.Data))
	}
	b.Hash = hex.EncodeToString(h.Sum(nil))
	b.Version = b.Hash[:12]
}

// Encode returns the record value: the bundle as gzip-compressed JSON.
func (b *Bundle) Encode() ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err := json.NewEncoder(zw).Encode(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxDecodedBytes bounds a bundle's JSON once decompressed, so that a corrupt or hostile record cannot exhaust memory.
const maxDecodedBytes = 256 << 20

// Decode reads a record value written by Encode and checks that the files match the hash.
func Decode(value []byte) (*Bundle, error) {
	zr, err := gzip.NewReader(bytes.NewReader(value))
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	var b Bundle
	if err := json.NewDecoder(io.LimitReader(zr, maxDecodedBytes)).Decode(&b); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	want := b.Hash
	b.Seal()
	if b.Hash != want {
		return nil, fmt.Errorf("bundle %s: content does not match its hash", b.Version)
	}
	return &b, nil
}

// Materialize writes the bundle's files under dir (which must exist), and returns the rule path and the exception
// list path to load them from (the exception path is an empty folder when the bundle has no lists).
func (b *Bundle) Materialize(dir string) (rulePath, exceptionPath string, err error) {
	rulePath, exceptionPath = filepath.Join(dir, RulesDir), filepath.Join(dir, ExceptionsDir)
	for _, d := range []string{rulePath, exceptionPath} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", "", err
		}
	}
	for _, f := range b.Files {
		name := filepath.Join(dir, filepath.FromSlash(f.Path))
		if !strings.HasPrefix(name, rulePath+string(filepath.Separator)) &&
			!strings.HasPrefix(name, exceptionPath+string(filepath.Separator)) {
			return "", "", fmt.Errorf("bundle %s: file %q is outside rules/ and exceptions/", b.Version, f.Path)
		}
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return "", "", err
		}
		if err := os.WriteFile(name, []byte(f.Data), 0o644); err != nil {
			return "", "", err
		}
	}
	return rulePath, exceptionPath, nil
}

// Compile compiles the bundle in env as `vigil run` compiles rule files: the files are written to a temporary folder
// and loaded from there; error messages name the files by their path in the bundle.
func (b *Bundle) Compile(env *rules.Env) (*rules.RuleSet, error) {
	dir, err := os.MkdirTemp("", "vigil-bundle-"+b.Version+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	rp, ep, err := b.Materialize(dir)
	if err != nil {
		return nil, err
	}
	set, err := env.LoadSetWith([]string{rp}, []string{ep})
	if err != nil {
		return nil, errors.New(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "bundle "+b.Version+":"))
	}
	if b.Shadow && len(set.Correlations())+len(set.Stateful()) > 0 {
		return nil, fmt.Errorf("bundle %s: a shadow bundle holds single-event rules only (no correlations, no suppress): their state would be shared with live rules", b.Version)
	}
	return set, nil
}
