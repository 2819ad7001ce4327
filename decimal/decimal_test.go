package decimal

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  string // substring of the error; "" means accepted
	}{
		{"0", 0, ""},
		{"0.1", 0.1, ""},
		{"0.05", 0.05, ""},
		{"5", 5, ""},
		{"-2.5", -2.5, ""},
		{"100000", 1e5, ""},
		{"1e+06", 1e6, ""},
		{"1.5e+07", 1.5e7, ""},
		{"1e-05", 1e-5, ""},
		{"0.0001", 1e-4, ""},
		{"5e-324", 5e-324, ""},
		{"1.7976931348623157e+308", math.MaxFloat64, ""},
		{"-1.7976931348623157e+308", -math.MaxFloat64, ""},
		{"0.30000000000000004", 0.30000000000000004, ""},

		{"", 0, "empty"},
		{"-0", 0, `want "0"`},
		{"0.10", 0, `want "0.1"`},
		{"00.1", 0, `want "0.1"`},
		{".5", 0, `want "0.5"`},
		{"5.", 0, `want "5"`},
		{"+1", 0, `want "1"`},
		{"1e-5", 0, `want "1e-05"`},
		{"1e5", 0, `want "100000"`},
		{"1000000", 0, `want "1e+06"`},
		{"1.0e+06", 0, `want "1e+06"`},
		{"0.1000000000000000055511151231257827", 0, "too long"},
		{"0.10000000000000001", 0, `want "0.1"`},
		{"1E-05", 0, "character"},
		{"NaN", 0, "character"},
		{"nan", 0, "character"},
		{"Inf", 0, "character"},
		{"+Inf", 0, "character"},
		{"inf", 0, "character"},
		{"infinity", 0, "character"},
		{"0x1p-3", 0, "character"},
		{"1_000", 0, "character"},
		{" 1", 0, "character"},
		{"1 ", 0, "character"},
		{"1e+400", 0, "out of range"},
		{"-1e+400", 0, "out of range"},
		{"1e-400", 0, `want "0"`},
		{"-", 0, "decimal"},
		{"e", 0, "decimal"},
		{"1e", 0, "decimal"},
		{"1..2", 0, "decimal"},
		{"--1", 0, "decimal"},
		{"1-", 0, "decimal"},
	} {
		d, err := Parse(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("Parse(%q): %v", tc.in, err)
		case tc.err == "" && d.Float64() != tc.want:
			t.Errorf("Parse(%q) = %v, want %v", tc.in, d.Float64(), tc.want)
		case tc.err == "" && d.String() != tc.in:
			t.Errorf("Parse(%q).String() = %q", tc.in, d.String())
		case tc.err != "" && err == nil:
			t.Errorf("Parse(%q) = %v, want an error with %q", tc.in, d, tc.err)
		case tc.err != "" && (!strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrSyntax)):
			t.Errorf("Parse(%q): error %q, want one wrapping ErrSyntax with %q", tc.in, err, tc.err)
		}
	}
}

func TestParseOptional(t *testing.T) {
	if d, err := ParseOptional(""); err != nil || !d.IsZero() {
		t.Errorf(`ParseOptional("") = %v, %v; want 0, nil`, d, err)
	}
	if d, err := ParseOptional("0.5"); err != nil || d.Float64() != 0.5 {
		t.Errorf(`ParseOptional("0.5") = %v, %v`, d, err)
	}
	if _, err := ParseOptional("abc"); err == nil {
		t.Error(`ParseOptional("abc") accepted`)
	}
}

func TestFromFloat(t *testing.T) {
	for _, tc := range []struct {
		in       float64
		str, opt string
	}{
		{0, "0", ""},
		{math.Copysign(0, -1), "0", ""},
		{0.05, "0.05", "0.05"},
		{1e-5, "1e-05", "1e-05"},
		{1e21, "1e+21", "1e+21"},
		{-3, "-3", "-3"},
	} {
		d, err := FromFloat(tc.in)
		if err != nil {
			t.Fatalf("FromFloat(%v): %v", tc.in, err)
		}
		if d.String() != tc.str || d.OptionalString() != tc.opt {
			t.Errorf("FromFloat(%v): String %q OptionalString %q, want %q %q", tc.in, d.String(), d.OptionalString(), tc.str, tc.opt)
		}
		if back, err := ParseOptional(d.OptionalString()); err != nil || back != d {
			t.Errorf("FromFloat(%v): ParseOptional(OptionalString) = %v, %v", tc.in, back, err)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if d, err := FromFloat(f); err == nil {
			t.Errorf("FromFloat(%v) = %v, want an error", f, d)
		}
	}
}

func TestSign(t *testing.T) {
	for s, want := range map[string]int{"-1e-05": -1, "0": 0, "2": 1} {
		d, err := Parse(s)
		if err != nil || d.Sign() != want {
			t.Errorf("Parse(%q).Sign() = %d (%v), want %d", s, d.Sign(), err, want)
		}
	}
}

// FuzzParse checks that every accepted text is canonical (formatting gives it
// back) and that every finite float formats to a text Parse accepts.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "0.1", "-2.5", "1e-05", "1e+06", "100000", "0.10", "NaN", "1e400", "-0", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err == nil {
			if d.String() != s {
				t.Fatalf("Parse(%q).String() = %q", s, d.String())
			}
			if math.IsNaN(d.Float64()) || math.IsInf(d.Float64(), 0) {
				t.Fatalf("Parse(%q) = %v", s, d.Float64())
			}
			again, err := Parse(d.String())
			if err != nil || again != d {
				t.Fatalf("Parse(String()) of %q: %v, %v", s, again, err)
			}
		}
		// Any bytes read as a float64 make a Decimal whose text round-trips.
		if len(s) >= 8 {
			var u uint64
			for i := 0; i < 8; i++ {
				u = u<<8 | uint64(s[i])
			}
			x := math.Float64frombits(u)
			d, err := FromFloat(x)
			if math.IsNaN(x) || math.IsInf(x, 0) {
				if err == nil {
					t.Fatalf("FromFloat(%v) accepted", x)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromFloat(%v): %v", x, err)
			}
			back, err := Parse(d.String())
			if err != nil || back.Float64() != x {
				t.Fatalf("FromFloat(%v): Parse(%q) = %v, %v", x, d.String(), back.Float64(), err)
			}
		}
	})
}

func ExampleParse() {
	d, err := Parse("0.05")
	fmt.Println(d.Float64()*2, err)
	_, err = Parse("0.050")
	fmt.Println(err)
	// Output:
	// 0.1 <nil>
	// decimal: not a canonical finite decimal: "0.050" is not canonical (want "0.05")
}
