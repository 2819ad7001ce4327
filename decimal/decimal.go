package decimal

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// ErrSyntax reports a text that is not a canonical finite decimal.
var ErrSyntax = errors.New("decimal: not a canonical finite decimal")

// Decimal is a finite number read from or written as canonical decimal text.
// The zero Decimal is 0.
type Decimal struct {
	f float64 // finite, never -0
}

// Parse reads a canonical finite decimal (see the package documentation for
// the grammar). Errors wrap ErrSyntax and quote s.
func Parse(s string) (Decimal, error) {
	if s == "" {
		return Decimal{}, fmt.Errorf("%w: empty", ErrSyntax)
	}
	if len(s) > 32 { // the longest canonical float64 text is 24 bytes
		return Decimal{}, fmt.Errorf("%w: %q is too long", ErrSyntax, s)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '.', c == '-', c == '+', c == 'e':
		default:
			return Decimal{}, fmt.Errorf("%w: %q has the character %q", ErrSyntax, s, c)
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return Decimal{}, fmt.Errorf("%w: %q is out of range", ErrSyntax, s)
		}
		return Decimal{}, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return Decimal{}, fmt.Errorf("%w: %q is not finite", ErrSyntax, s)
	}
	if f == 0 && math.Signbit(f) {
		return Decimal{}, fmt.Errorf("%w: %q is not canonical (want \"0\")", ErrSyntax, s)
	}
	if want := format(f); want != s {
		return Decimal{}, fmt.Errorf("%w: %q is not canonical (want %q)", ErrSyntax, s, want)
	}
	return Decimal{f: f}, nil
}

// ParseOptional is Parse, except that the empty string is the zero Decimal.
// Use it only for fields where "" means absent.
func ParseOptional(s string) (Decimal, error) {
	if s == "" {
		return Decimal{}, nil
	}
	return Parse(s)
}

// FromFloat returns the Decimal of f. It reports an error for NaN and
// infinities; -0 becomes 0.
func FromFloat(f float64) (Decimal, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Decimal{}, fmt.Errorf("decimal: %v is not finite", f)
	}
	if f == 0 {
		f = 0 // drops the sign of -0
	}
	return Decimal{f: f}, nil
}

// Float64 returns d's value.
func (d Decimal) Float64() float64 { return d.f }

// IsZero reports whether d is 0.
func (d Decimal) IsZero() bool { return d.f == 0 }

// Sign returns -1, 0 or +1 for a negative, zero or positive d.
func (d Decimal) Sign() int {
	switch {
	case d.f < 0:
		return -1
	case d.f > 0:
		return 1
	}
	return 0
}

// String returns d's canonical text, which Parse reads back as d.
func (d Decimal) String() string { return format(d.f) }

// OptionalString is String, except that 0 is "" (the absent value of
// ParseOptional).
func (d Decimal) OptionalString() string {
	if d.f == 0 {
		return ""
	}
	return format(d.f)
}

func format(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
