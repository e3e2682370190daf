package directory

import "strings"

// Luhn returns the Luhn check digit of a string of digits, as RPPS numbers
// carry: "1000000000" gives '9'.
func Luhn(digits string) byte {
	sum := 0
	double := true
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return byte('0' + (10-sum%10)%10)
}

// ValidRPPS reports whether s is an 11-digit RPPS number with a valid Luhn key.
func ValidRPPS(s string) bool {
	if len(s) != 11 || strings.Trim(s, "0123456789") != "" {
		return false
	}
	return Luhn(s[:10]) == s[10]
}
