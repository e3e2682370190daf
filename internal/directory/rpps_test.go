package directory

import "testing"

func TestLuhn(t *testing.T) {
	tests := map[string]byte{"7992739871": '3', "1000000000": '9', "0": '0'}
	for digits, want := range tests {
		if got := Luhn(digits); got != want {
			t.Errorf("Luhn(%s) = %c, want %c", digits, got, want)
		}
	}
	if !ValidRPPS("10000000009") || ValidRPPS("10000000001") || ValidRPPS("1000000000") {
		t.Error("ValidRPPS accepts or refuses the wrong numbers")
	}
}
