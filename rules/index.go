package rules

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/vigilsoc/vigil/fields"
)

// index finds the candidate rules of an event. Per event it looks up each indexed field once (a map lookup for
// values, one Aho-Corasick pass for substrings, a scan of sorted thresholds for numbers), counts the satisfied groups
// of each branch, and returns the rules with a branch whose every group is satisfied, plus the rules without
// requirements, which are evaluated on every event (requirements.go says how requirements are found).
type index struct {
	fields []*fieldIndex
	// tops groups the fields by the event's top-level member they are under. With few of them, each is looked up;
	// with many (flat Windows fields: EventID, Image, CommandLine...), byTop finds them while the event's members are
	// walked once, instead of a search through them per field.
	tops   []topFields
	byTop  *topTable
	always []int32 // rules without requirements, evaluated on every event
	// A rule's requirements are branches (the disjuncts of a top-level ||), each a conjunction of groups.
	need       []uint8           // per branch: how many groups must be satisfied
	branchRule []int32           // per branch: its rule
	checks     map[int32][]group // per branch with any: groups checked once the counted ones hold (splitBranch)
	owner      []int32           // per group: its branch
	pool       sync.Pool
}

type topFields struct {
	name   string
	fields []*fieldIndex
}

// manyTops is the number of top-level names from which walking the event's members beats looking each name up.
const manyTops = 16

// fieldIndex holds the requirements on one field (and one fold mode).
type fieldIndex struct {
	path    []string
	fold    bool
	sigma   bool
	strings map[string][]int32  // value → groups
	numbers map[float64][]int32 // ints and doubles by value, as CEL compares them
	bools   [2][]int32
	present []int32 // groups satisfied by the field merely existing
	// atLeast and atMost hold the groups of range requirements, sorted by threshold: a number v satisfies the
	// thresholds of atLeast up to v and those of atMost from v on. Comparisons are inclusive, so rounding an int64
	// to a float64 can only add candidates.
	atLeast, atMost []threshold
	subs            *substrings
	subLits         []string
	subGrps         [][]int32 // literal → groups
	// eqLens has bit n set when a key of strings has n bytes (eqLong: 256 or more). Most texts (command lines, paths)
	// have a length no value has, and need neither lowering nor hashing for the lookup.
	eqLens [4]uint64
	eqLong bool
}

func buildIndex(rs []*Compiled) *index {
	ix := &index{}
	byKey := map[string]*fieldIndex{}
	litIDs := map[*fieldIndex]map[string]int32{}
	postings := postingLengths(rs)
	for i, c := range rs {
		if len(c.requires) == 0 {
			ix.always = append(ix.always, int32(i))
			continue
		}
		for _, branch := range c.requires {
			counted, checked := splitBranch(branch, postings)
			ix.addBranch(int32(i), counted, checked, byKey, litIDs)
		}
	}
	slices.SortFunc(ix.fields, func(a, b *fieldIndex) int { return slices.Compare(a.path, b.path) })
	for _, f := range ix.fields {
		if n := len(ix.tops); n == 0 || ix.tops[n-1].name != f.path[0] {
			ix.tops = append(ix.tops, topFields{name: f.path[0]})
		}
		ix.tops[len(ix.tops)-1].fields = append(ix.tops[len(ix.tops)-1].fields, f)
		byValue := func(a, b threshold) int { return cmp.Compare(a.v, b.v) }
		slices.SortFunc(f.atLeast, byValue)
		slices.SortFunc(f.atMost, byValue)
		for v := range f.strings {
			if n := len(v); n < 256 {
				f.eqLens[n>>6] |= 1 << (n & 63)
			} else {
				f.eqLong = true
			}
		}
	}
	parallel(len(ix.fields), func(i int) { // the automata are most of building the index
		if f := ix.fields[i]; len(f.subLits) > 0 {
			// Lowered fields scan their text as if lowered: their literals are lowered.
			f.subs = newSubstrings(f.subLits, f.fold || f.sigma)
		}
	})
	if len(ix.tops) > manyTops {
		ix.byTop = newTopTable(ix.tops)
	}
	nRules, nBranches, nGroups := len(rs), len(ix.need), len(ix.owner)
	ix.pool.New = func() any {
		return &scratch{groupMark: make([]uint32, nGroups), branchMark: make([]uint32, nBranches),
			count: make([]uint8, nBranches), ruleMark: make([]uint32, nRules)}
	}
	return ix
}

// Counting costs one step per group in the posting list of every value an event has, so a value that many rules test
// (an event.action or event.code shared by hundreds of rules of a large set) costs hundreds of steps on every event
// that carries it, while narrowing little: a value many rules test is a common one. So is a group on a field with few
// values (event.category) or of mere presence (weak, by score). A branch that also has a group of rare values (a tool
// name, a command-line fragment) does not count its common and weak groups: it checks them, when they are plain
// equalities, only once its counted groups are all satisfied, which costs a field lookup for the few branches that
// get that far instead of a step on every event; other such groups are left out, and the rule is evaluated on a few
// more events. Either way the result is unchanged. Small rule sets count every group: their posting lists are short.
const (
	// maxCounted bounds the groups counted per branch (the most selective ones).
	maxCounted = 4
	// commonPosting is the posting length from which a group counts as common.
	commonPosting = 48
	// rareFactor: a group is not counted when the branch's rarest group has postings at least this much shorter.
	// Checking instead of counting is cheap, so a factor of 2 suffices (at 10,000 generated rules: 28 counting steps
	// per event instead of 87 with 4, and no more rules evaluated).
	rareFactor = 2
)

// postingLengths counts, for each indexed fact (a field with a value, a substring, presence or a range), the groups
// of all branches that test it: the length of its posting list.
func postingLengths(rs []*Compiled) map[postingKey]int {
	n := map[postingKey]int{}
	for _, c := range rs {
		for _, branch := range c.requires {
			for _, g := range branch {
				for _, a := range g {
					n[a.postingKey()]++
				}
			}
		}
	}
	return n
}

// postingKey names the posting list an alternative lands in. All range thresholds of a field share one key: an event
// satisfies a run of them. Numbers are keyed by their float64, as the index looks them up.
type postingKey struct {
	path  string // the field's path, its names joined by NUL
	mode  uint8  // 0 plain, 1 lowered (fold), 2 as the Sigma functions read it
	kind  uint8  // 0 equality, 1 presence, 2 range, 3 substring
	bound int8
	value any // string, float64 or bool
}

func (a alt) postingKey() postingKey {
	k := postingKey{path: strings.Join(a.path, "\x00"), bound: int8(a.bound)}
	switch {
	case a.fold:
		k.mode = 1
	case a.sigma:
		k.mode = 2
	}
	switch {
	case a.present:
		k.kind = 1
		return k
	case a.bound != 0:
		k.kind = 2
		return k
	case a.substr:
		k.kind = 3
	}
	switch v := a.value.(type) {
	case types.String:
		k.value = string(v)
	case types.Bool:
		k.value = bool(v)
	case types.Int, types.Uint, types.Double:
		k.value = toFloat(v)
	}
	return k
}

// splitBranch divides a branch's groups, sorted most selective first, into those the index counts and those it checks
// once the counted ones hold; groups in neither are left out.
func splitBranch(branch []group, postings map[postingKey]int) (counted, checked []group) {
	// Weak groups are candidates for counting only when the branch has nothing better; among the candidates, the one
	// with the shortest posting lists is always counted.
	candidate := make([]bool, len(branch))
	cost := make([]int, len(branch))
	rarest := -1
	for i, g := range branch {
		candidate[i] = score(g) < weakScore || score(branch[0]) >= weakScore
		for _, a := range g {
			cost[i] = max(cost[i], postings[a.postingKey()])
		}
		if candidate[i] && (rarest < 0 || cost[i] < cost[rarest]) {
			rarest = i
		}
	}
	for i, g := range branch {
		common := cost[i] >= commonPosting && cost[i] >= rareFactor*cost[rarest]
		switch {
		case i == rarest || candidate[i] && !common && len(counted) < maxCounted:
			counted = append(counted, g)
		case checkable(g):
			checked = append(checked, g)
		}
	}
	return counted, checked
}

// checkable reports whether every alternative of g is a plain equality, which holds checks on an event.
func checkable(g group) bool {
	for _, a := range g {
		if a.fold || a.sigma || a.substr || a.present || a.bound != 0 {
			return false
		}
	}
	return true
}

// holds reports whether some alternative of a checkable group holds on the event, as the index would find it by
// counting: the field's value, one of its elements when it is a list, or one of its keys when it is an object,
// equals the alternative's value (numbers compared as float64).
func holds(event fields.Value, g group) bool {
	for _, a := range g {
		v := event.Lookup(a.path...)
		switch v.Kind() {
		case fields.Array:
			for e := range v.Elements() {
				if equalsLeaf(e, a.value) {
					return true
				}
			}
		case fields.Object:
			if k, ok := a.value.(types.String); ok && v.Get(string(k)).Exists() {
				return true
			}
		default:
			if equalsLeaf(v, a.value) {
				return true
			}
		}
	}
	return false
}

func equalsLeaf(v fields.Value, want ref.Val) bool {
	switch v.Kind() {
	case fields.String:
		s, ok := want.(types.String)
		return ok && v.Str() == string(s)
	case fields.Int:
		return isNumber(want) && float64(v.Int()) == toFloat(want)
	case fields.Uint:
		return isNumber(want) && float64(v.Uint()) == toFloat(want)
	case fields.Float:
		return isNumber(want) && v.Float() == toFloat(want)
	case fields.Bool:
		b, ok := want.(types.Bool)
		return ok && bool(b) == v.Bool()
	}
	return false
}

func isNumber(v ref.Val) bool {
	switch v.(type) {
	case types.Int, types.Uint, types.Double:
		return true
	}
	return false
}

// addBranch indexes one branch of rule's requirements: a conjunction of groups.
func (ix *index) addBranch(rule int32, branch, checked []group, byKey map[string]*fieldIndex, litIDs map[*fieldIndex]map[string]int32) {
	b := int32(len(ix.need))
	ix.need = append(ix.need, uint8(len(branch)))
	ix.branchRule = append(ix.branchRule, rule)
	if len(checked) > 0 {
		if ix.checks == nil {
			ix.checks = map[int32][]group{}
		}
		ix.checks[b] = checked
	}
	for _, g := range branch {
		gid := int32(len(ix.owner))
		ix.owner = append(ix.owner, b)
		for _, a := range g {
			f := ix.field(byKey, a)
			switch {
			case a.present:
				f.present = appendOnce(f.present, gid)
				continue
			case a.bound > 0:
				f.atLeast = append(f.atLeast, threshold{toFloat(a.value), gid})
				continue
			case a.bound < 0:
				f.atMost = append(f.atMost, threshold{toFloat(a.value), gid})
				continue
			case !a.substr:
				f.add(a.value, gid)
				continue
			}
			s := string(a.value.(types.String))
			if litIDs[f] == nil {
				litIDs[f] = map[string]int32{}
			}
			id, ok := litIDs[f][s]
			if !ok {
				id = int32(len(f.subLits))
				litIDs[f][s] = id
				f.subLits = append(f.subLits, s)
				f.subGrps = append(f.subGrps, nil)
			}
			f.subGrps[id] = appendOnce(f.subGrps[id], gid)
		}
	}
}

// fieldKey names the field an alternative reads, with the way it reads it (lowered, or as the Sigma functions do).
func (a alt) fieldKey() string {
	key := strings.Join(a.path, "\x00")
	switch {
	case a.fold:
		key += "\x00|lower"
	case a.sigma:
		key += "\x00|sigma"
	}
	return key
}

func (ix *index) field(byKey map[string]*fieldIndex, a alt) *fieldIndex {
	key := a.fieldKey()
	f := byKey[key]
	if f == nil {
		f = &fieldIndex{path: a.path, fold: a.fold, sigma: a.sigma, strings: map[string][]int32{}, numbers: map[float64][]int32{}}
		byKey[key] = f
		ix.fields = append(ix.fields, f)
	}
	return f
}

func (f *fieldIndex) add(v ref.Val, gid int32) {
	switch x := v.(type) {
	case types.String:
		f.strings[string(x)] = appendOnce(f.strings[string(x)], gid)
	case types.Int:
		f.numbers[float64(x)] = appendOnce(f.numbers[float64(x)], gid)
	case types.Uint:
		f.numbers[float64(x)] = appendOnce(f.numbers[float64(x)], gid)
	case types.Double:
		f.numbers[float64(x)] = appendOnce(f.numbers[float64(x)], gid)
	case types.Bool:
		b := 0
		if x {
			b = 1
		}
		f.bools[b] = appendOnce(f.bools[b], gid)
	}
}

func appendOnce(s []int32, v int32) []int32 {
	if len(s) > 0 && s[len(s)-1] == v {
		return s
	}
	return append(s, v)
}
