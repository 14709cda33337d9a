package rules

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestSubstringsRandom compares the automaton with strings.Contains on random literals and texts over a small
// alphabet (deep matches and fail chains, through the transition rows and past them), and over every byte value
// (no rows); up to fewLiterals literals are searched for one by one.
func TestSubstringsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(alphabet string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	var all strings.Builder
	for b := range 256 {
		all.WriteByte(byte(b))
	}
	for _, alphabet := range []string{"ab", "abc\\.x", all.String()} {
		for range 50 {
			var lits []string
			for range 1 + rng.IntN(40) {
				lits = append(lits, word(alphabet, 1+rng.IntN(8)))
			}
			a := newSubstrings(lits, false)
			if alphabet == all.String() && a.classes != 0 && len(lits) > 30 {
				t.Logf("rows with %d classes", a.classes)
			}
			for range 20 {
				text := word(alphabet, rng.IntN(60))
				got := a.scan(text, nil)
				slices.Sort(got)
				got = slices.Compact(got)
				var want []int32
				for i, l := range lits {
					if strings.Contains(text, l) {
						want = append(want, int32(i))
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("lits %q, text %q: got %v, want %v", lits, text, got, want)
				}
			}
		}
	}
}

// TestSubstringsFold: an automaton built with fold finds lowered literals in a text as if the text's letters A-Z had
// been lowered first, through the transition rows and past them and one by one when they are few, and never a
// literal holding an upper-case letter.
func TestSubstringsFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	word := func(alphabet string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 200 {
		var lits []string
		for range 1 + rng.IntN(40) {
			lits = append(lits, word("abAé\\", 1+rng.IntN(8)))
		}
		a := newSubstrings(lits, true)
		for range 20 {
			text := word("aAbBé\\", rng.IntN(60))
			lowered := string(appendLowerASCII(nil, text))
			got := a.scan(text, nil)
			slices.Sort(got)
			got = slices.Compact(got)
			var want []int32
			for i, l := range lits {
				if string(appendLowerASCII(nil, l)) == l && strings.Contains(lowered, l) {
					want = append(want, int32(i))
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("lits %q, text %q: got %v, want %v", lits, text, got, want)
			}
		}
	}
}
