package sigma

import "testing"

// FuzzConvert feeds arbitrary rule text to the parser and converter: neither may panic, and whatever converts must
// compile (ConvertAll compiles it). The rules of one text are converted together, so correlations resolve.
func FuzzConvert(f *testing.F) {
	for _, d := range []string{
		"sel: {A|contains|all: [x, 'y*z']}\ncondition: sel",
		"sel: {A|windash|base64offset|contains: ' -e '}\nfilter: {B: null}\ncondition: sel and not filter",
		"keywords: ['a\\\\*b', 404]\nsel_1: [{A|re|i: '^x$'}, {B|cidr: 10.0.0.0/8}]\ncondition: 1 of sel_* or keywords",
		"a: {A|fieldref|endswith: B}\nb: {C|gte: 3, D|exists: false}\ncondition: (a or not b) and all of them",
		"a: {A|utf16be|base64: x}\ncondition: [a, not a]",
	} {
		f.Add(sigmaRule(d))
	}
	f.Add(specExample)
	f.Add(aliasRules + aliasCorrelation)
	conv := newTestConverter(f, "windows-flat")
	f.Fuzz(func(t *testing.T, text string) {
		parsed, _ := Parse("fuzz.yml", []byte(text))
		_, errs := conv.ConvertAll(parsed)
		for _, err := range errs {
			if _, ok := err.(*UnsupportedError); !ok {
				t.Fatalf("got %T %v, want an *UnsupportedError", err, err)
			}
		}
	})
}
