package rules

import (
	"errors"
	"reflect"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/interpreter"

	"github.com/vigilsoc/vigil/fields"
)

// CEL reads the event's decoded tree in place: leaves become CEL values as they are read, objects and arrays are
// presented as CEL maps and lists (object and list) that walk the tree. Nothing is converted ahead of evaluation,
// and only the values a condition reads are ever looked at. Operations CEL's own maps and lists do beyond reading
// (equality with another map or list, conversion to a Go value, list concatenation) convert the value to CEL's own
// first: they are rare in rules and keep exactly CEL's semantics.

// activation resolves CEL identifiers to the event's top-level fields.
type activation struct{ fields fields.Value }

func (a *activation) ResolveName(name string) (any, bool) {
	if name == RootVariable {
		return celValue(a.fields), true
	}
	v := a.fields.Get(name)
	if !v.Exists() {
		return nil, false
	}
	return celValue(v), true
}

func (a *activation) Parent() interpreter.Activation { return nil }

// celValue returns the CEL value of a decoded value.
func celValue(v fields.Value) ref.Val {
	switch v.Kind() {
	case fields.String:
		return types.String(v.Str())
	case fields.Int:
		return types.Int(v.Int())
	case fields.Uint:
		return types.Uint(v.Uint())
	case fields.Float:
		return types.Double(v.Float())
	case fields.Bool:
		return types.Bool(v.Bool())
	case fields.Array:
		return list{v}
	case fields.Object:
		return object{v}
	}
	return types.NullValue
}

// native converts a decoded value to CEL's own value.
func native(v fields.Value) ref.Val { return types.DefaultTypeAdapter.NativeToValue(v.Interface()) }

// object is a decoded JSON object as a CEL map (traits.Mapper) with string keys.
type object struct{ v fields.Value }

func (o object) Type() ref.Type { return types.MapType }

// Value returns the object as a map[string]any, newly built.
func (o object) Value() any { return o.v.Map() }

func (o object) ConvertToNative(t reflect.Type) (any, error) { return native(o.v).ConvertToNative(t) }
func (o object) Equal(other ref.Val) ref.Val                 { return native(o.v).Equal(other) }

func (o object) ConvertToType(t ref.Type) ref.Val { return convertToType(o, types.MapType, t) }

// convertToType is ConvertToType for a value v of CEL type own: only to its own type, or to its type's type.
func convertToType(v ref.Val, own *types.Type, t ref.Type) ref.Val {
	switch t {
	case own:
		return v
	case types.TypeType:
		return own
	}
	return types.NewErr("type conversion error from '%s' to '%s'", own, t)
}

func (o object) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	m := o.v.Get(string(k))
	if !m.Exists() {
		return nil, false
	}
	return celValue(m), true
}

func (o object) Get(key ref.Val) ref.Val {
	if v, ok := o.Find(key); ok {
		return v
	}
	return types.NewErr("no such key: %v", key)
}

func (o object) Contains(key ref.Val) ref.Val {
	_, ok := o.Find(key)
	return types.Bool(ok)
}

func (o object) Size() ref.Val { return types.Int(o.v.Len()) }

func (o object) IsZeroValue() bool { return o.v.Len() == 0 }

// Iterator yields the member names.
func (o object) Iterator() traits.Iterator { return &iterator{next: o.v.First(), keys: true} }

// list is a decoded JSON array as a CEL list (traits.Lister).
type list struct{ v fields.Value }

func (l list) Type() ref.Type { return types.ListType }

// Value returns the list as a []any, newly built.
func (l list) Value() any { return l.v.Interface() }

func (l list) ConvertToNative(t reflect.Type) (any, error) { return native(l.v).ConvertToNative(t) }
func (l list) Equal(other ref.Val) ref.Val                 { return native(l.v).Equal(other) }
func (l list) Add(other ref.Val) ref.Val                   { return native(l.v).(traits.Adder).Add(other) }

func (l list) ConvertToType(t ref.Type) ref.Val { return convertToType(l, types.ListType, t) }

func (l list) Get(index ref.Val) ref.Val {
	i, err := types.GetOrError(index)
	if err != nil {
		return types.ValOrErr(index, "%v", err)
	}
	e := l.v.Index(i)
	if !e.Exists() {
		return types.NewErr("index '%d' out of range in list size '%d'", i, l.v.Len())
	}
	return celValue(e)
}

// Contains is CEL's `in` on a list: true when some element equals elem.
func (l list) Contains(elem ref.Val) ref.Val {
	for e := range l.v.Elements() {
		if elem.Equal(celValue(e)) == types.True {
			return types.True
		}
	}
	return types.False
}

func (l list) Size() ref.Val { return types.Int(l.v.Len()) }

func (l list) IsZeroValue() bool { return l.v.Len() == 0 }

func (l list) Iterator() traits.Iterator { return &iterator{next: l.v.First()} }

// iterator walks the elements of a list, or the member names of an object.
type iterator struct {
	next fields.Value
	keys bool
}

func (it *iterator) HasNext() ref.Val { return types.Bool(it.next.Exists()) }

func (it *iterator) Next() ref.Val {
	v := it.next
	if !v.Exists() {
		return nil
	}
	it.next = v.Next()
	if it.keys {
		return types.String(v.Key())
	}
	return celValue(v)
}

// iterator is not a CEL value itself, but traits.Iterator requires ref.Val's methods.
func (it *iterator) ConvertToNative(reflect.Type) (any, error) { return nil, errIterator }
func (it *iterator) ConvertToType(ref.Type) ref.Val {
	return types.NewErr("iterator cannot be converted")
}
func (it *iterator) Equal(ref.Val) ref.Val { return types.False }
func (it *iterator) Type() ref.Type        { return iteratorType }
func (it *iterator) Value() any            { return nil }

var (
	iteratorType = types.NewOpaqueType("vigil.iterator")
	errIterator  = errors.New("iterator cannot be converted")
)
