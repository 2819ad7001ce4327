// Package decimal is the number type of the decimal strings that signed
// records carry (a job's learning rate, proximal term, weight decay and norm
// bound): records hold no floats, so these numbers travel as text, and
// package decimal is the one place that reads and writes that text.
//
// A Decimal is a finite float64. Its text is canonical: exactly the string
// strconv.FormatFloat(x, 'g', -1, 64) prints for the value x, the shortest
// decimal that reads back as x. The grammar:
//
//	decimal  = "0" | ["-"] nonzero
//	nonzero  = fixed | sci
//	fixed    = int ["." frac]             (used when the exponent e is in [-4, 5])
//	sci      = digit ["." frac] "e" sign exp (used when e < -4 or e >= 6)
//	int      = "0" | digit1 {digit}
//	frac     = {digit} digit1             (no trailing zero)
//	sign     = "+" | "-"
//	exp      = digit digit | digit1 digit digit  (at least two digits, no extra leading zero)
//
// where e is the decimal exponent of the value and the digits are the
// fewest that round-trip. So "0.1", "5", "1e-05", "100000", "1e+06", "1.5e+07" and
// "-2.5" are canonical; "0.10", ".5", "+1", "1e-5", "1E-05", "1000000", "-0", "0x1p-3",
// "NaN", "Inf", "1_000" and "" are not. One value has exactly one text.
//
// The caller's contract:
//  1. Parse the text of a record field with Parse; it reports every
//     malformed, non-canonical, infinite or out-of-range text as an error.
//     An empty string is an error too: fields where "" means "absent" (zero)
//     use ParseOptional, and only those.
//  2. Use Float64 for arithmetic.
//  3. Make text for a record with FromFloat, which refuses NaN and
//     infinities, then String (or OptionalString for fields where zero is
//     written as "").
package decimal
