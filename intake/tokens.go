package intake

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigilsoc/vigil"
)

// TokenEntry is one partner token in the tokens file. The file holds only the token's SHA-256, never the token:
//
//	tokens:
//	  - tenant: acme
//	    name: acme-splunk-forwarder
//	    sha256: 0b3f...e1 # 64 hex digits, printed by `vigil intake token --tenant acme`
//	    expires: 2027-06-30T00:00:00Z # optional
//
// JSON with the same keys is YAML too.
type TokenEntry struct {
	// Tenant is the tenant of everything sent with the token.
	Tenant string `yaml:"tenant"`
	// Name identifies the token in logs, metrics and the vigil.intake.credential header; default: the first 8
	// hex digits of the hash.
	Name string `yaml:"name"`
	// SHA256 is the hex SHA-256 of the token.
	SHA256 string `yaml:"sha256"`
	// Expires, when set, is when the token stops working.
	Expires time.Time `yaml:"expires"`

	hash [sha256.Size]byte
}

// Principal is who sent a request: the tenant and the name of the credential.
type Principal struct {
	Tenant string
	Name   string
}

// tokenSet is a parsed tokens file.
type tokenSet struct {
	entries []TokenEntry
}

// parseTokens parses and checks a tokens file.
func parseTokens(data []byte) (*tokenSet, error) {
	var f struct {
		Tokens []TokenEntry `yaml:"tokens"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var errs []error
	seen := map[[sha256.Size]byte]bool{}
	for i := range f.Tokens {
		e := &f.Tokens[i]
		if err := vigil.CheckTenant(e.Tenant); err != nil {
			errs = append(errs, fmt.Errorf("tokens[%d]: %w", i, err))
		}
		h, err := hex.DecodeString(e.SHA256)
		if err != nil || len(h) != sha256.Size {
			errs = append(errs, fmt.Errorf("tokens[%d] (%s): sha256: want 64 hex digits", i, e.Tenant))
			continue
		}
		copy(e.hash[:], h)
		if seen[e.hash] {
			errs = append(errs, fmt.Errorf("tokens[%d] (%s): the same hash is listed twice", i, e.Tenant))
		}
		seen[e.hash] = true
		if e.Name == "" {
			e.Name = e.SHA256[:8]
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &tokenSet{entries: f.Tokens}, nil
}

// lookup finds the token's entry. It hashes the token and compares the hash with every entry in constant time, so
// the time taken says nothing about which entry, if any, was close.
func (s *tokenSet) lookup(token string, now time.Time) (Principal, bool) {
	if s == nil || token == "" {
		return Principal{}, false
	}
	h := sha256.Sum256([]byte(token))
	found := -1
	for i := range s.entries {
		if subtle.ConstantTimeCompare(h[:], s.entries[i].hash[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, false
	}
	e := s.entries[found]
	if !e.Expires.IsZero() && now.After(e.Expires) {
		return Principal{}, false
	}
	return Principal{Tenant: e.Tenant, Name: e.Name}, true
}

// Tokens is the tokens file, re-read when its modification time or size changes. A file that fails to parse is
// logged and the tokens loaded before stay in force. Safe for concurrent use.
type Tokens struct {
	path  string
	log   *slog.Logger
	set   atomic.Pointer[tokenSet]
	stamp struct {
		mod  time.Time
		size int64
	}
}

// LoadTokens reads the tokens file; an empty path gives a set that knows no token.
func LoadTokens(path string, log *slog.Logger) (*Tokens, error) {
	t := &Tokens{path: path, log: log}
	if path == "" {
		return t, nil
	}
	if _, err := t.reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Lookup returns the principal a token authenticates.
func (t *Tokens) Lookup(token string) (Principal, bool) {
	return t.set.Load().lookup(token, time.Now())
}

// reload re-reads the file when it changed; changed says whether it did.
func (t *Tokens) reload() (changed bool, err error) {
	fi, err := os.Stat(t.path)
	if err != nil {
		return false, fmt.Errorf("tokens file: %w", err)
	}
	if fi.ModTime().Equal(t.stamp.mod) && fi.Size() == t.stamp.size {
		return false, nil
	}
	data, err := os.ReadFile(t.path)
	if err != nil {
		return false, fmt.Errorf("tokens file: %w", err)
	}
	set, err := parseTokens(data)
	if err != nil {
		return false, fmt.Errorf("tokens file %s: %w", t.path, err)
	}
	t.set.Store(set)
	t.stamp.mod, t.stamp.size = fi.ModTime(), fi.Size()
	return true, nil
}

// Watch checks the file every interval until done is closed. It is the only goroutine calling reload.
func (t *Tokens) Watch(done <-chan struct{}, interval time.Duration) {
	if t.path == "" {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		changed, err := t.reload()
		switch {
		case err != nil:
			t.log.Error("tokens file not reloaded; the previous tokens stay in force", "err", err)
		case changed:
			t.log.Info("tokens file reloaded", "path", t.path, "tokens", len(t.set.Load().entries))
		}
	}
}

// NewToken returns a new random token (a UUID-shaped string of 122 random bits, the form HEC clients expect) and
// the tokens file entry for it.
func NewToken(tenant, name string) (token string, entry TokenEntry, err error) {
	if err := vigil.CheckTenant(tenant); err != nil {
		return "", TokenEntry{}, err
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", TokenEntry{}, err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	token = h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	sum := sha256.Sum256([]byte(token))
	return token, TokenEntry{Tenant: tenant, Name: name, SHA256: hex.EncodeToString(sum[:])}, nil
}
