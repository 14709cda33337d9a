package correlate

import (
	"reflect"
	"testing"
	"time"
	"unsafe"
)

// TestRecordEncoding: a record decodes to itself, through UnmarshalBinary and through a Decoder, which hands out
// the same text for a tenant or rule it has seen; a cut record is an error.
func TestRecordEncoding(t *testing.T) {
	recs := []Record{
		{Tenant: "acme", Rule: "brute", Input: "fail", AlertID: "0123456789abcdef0123456789abcdef",
			Time: t0.Add(1500 * time.Millisecond).UTC(), Group: []string{"bob", "10.0.0.1"}, Value: "x", Num: 2.5},
		{Tenant: "acme", Rule: "brute", Input: "fail", AlertID: "ffff", Time: t0.UTC(), Group: []string{}},
	}
	var dec Decoder
	var tenants []string
	for _, want := range recs {
		b, _ := want.MarshalBinary()
		var a, d Record
		if err := a.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if err := dec.Decode(b, &d); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, want) || !reflect.DeepEqual(d, want) {
			t.Errorf("got %+v and %+v, want %+v", a, d, want)
		}
		tenants = append(tenants, d.Tenant)
		if err := a.UnmarshalBinary(b[:len(b)-1]); err == nil {
			t.Errorf("a cut record decoded without error")
		}
	}
	if unsafe.StringData(tenants[0]) != unsafe.StringData(tenants[1]) {
		t.Errorf("the Decoder allocated the tenant again instead of sharing it")
	}
}
