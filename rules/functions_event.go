package rules

import (
	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// EventFunctions declares functions about the record as a whole: `_event.shadowedKeys()` lists the keys whose value
// a later duplicate replaced while the record was decoded (fields.Value.Shadowed), so that a rule can raise an alert
// for a record that hides a value from the rules (`{"cmd":"evil","cmd":"benign"}` shows rules only "benign").
func EventFunctions() cel.EnvOption {
	return cel.Function("shadowedKeys", cel.MemberOverload("event_shadowedkeys",
		[]*cel.Type{cel.MapType(cel.StringType, cel.DynType)}, cel.ListType(cel.StringType),
		cel.UnaryBinding(func(v ref.Val) ref.Val {
			var keys []string
			if o, ok := v.(object); ok {
				keys = o.v.Shadowed()
			}
			return types.NewStringList(types.DefaultTypeAdapter, keys)
		})))
}
