package sieve

import (
	"context"
	"errors"
	"testing"
)

// FuzzParse parses arbitrary scripts: a script is refused with an *Error
// or runs on a message without panicking. Its seed corpus, in
// testdata/fuzz/FuzzParse, runs in every go test.
func FuzzParse(f *testing.F) {
	msg := testMsg()
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := Parse(src)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		if _, err := Run(context.Background(), s, msg); err != nil {
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("run error %v is not an *Error", err)
			}
		}
	})
}
