package auth

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"
)

func TestCodes(t *testing.T) {
	for name, open := range stores() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := newClock()
			codes := &Codes{Store: open(t), Pepper: []byte("pepper"), Now: c.Now}

			code, err := codes.Issue(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`^[0-9]{6}$`).MatchString(code) {
				t.Fatalf("code %q is not six digits", code)
			}
			if _, err := codes.Issue(ctx, "s1"); !errors.Is(err, ErrCodeTooSoon) {
				t.Fatalf("immediate resend: err = %v, want ErrCodeTooSoon", err)
			}
			stored, err := codes.Store.GetCode(ctx, "s1")
			if err != nil {
				t.Fatal(err)
			}
			if stored.Hash == code || len(stored.Hash) != 64 {
				t.Fatalf("stored hash %q: the code is not stored hashed", stored.Hash)
			}
			if err := codes.Check(ctx, "s1", wrong(code)); !errors.Is(err, ErrCodeWrong) {
				t.Fatalf("wrong code: err = %v", err)
			}
			if err := codes.Check(ctx, "s1", code); err != nil {
				t.Fatalf("right code: %v", err)
			}
			if err := codes.Check(ctx, "s1", code); !errors.Is(err, ErrCodeExpired) {
				t.Fatalf("reused code: err = %v, want ErrCodeExpired", err)
			}
		})
	}
}

func TestCodeLimits(t *testing.T) {
	tests := []struct {
		name   string
		wrongs int
		wait   time.Duration
		want   error
	}{
		{"right after four wrong", 4, 0, nil},
		{"right after five wrong", 5, 0, ErrCodeExpired},
		{"right at 9m59s", 0, 10*time.Minute - time.Second, nil},
		{"right at 10m", 0, 10 * time.Minute, ErrCodeExpired},
	}
	for name, open := range stores() {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				ctx := context.Background()
				c := newClock()
				codes := &Codes{Store: open(t), Pepper: []byte("pepper"), Now: c.Now}
				code, err := codes.Issue(ctx, "k")
				if err != nil {
					t.Fatal(err)
				}
				for range tt.wrongs {
					codes.Check(ctx, "k", wrong(code))
				}
				c.Add(tt.wait)
				if err := codes.Check(ctx, "k", code); !errors.Is(err, tt.want) {
					t.Fatalf("err = %v, want %v", err, tt.want)
				}
			})
		}
	}
}

func TestCodeResend(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	codes := &Codes{Store: NewMemoryStore(), Now: c.Now}
	first, err := codes.Issue(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(30 * time.Second)
	second, err := codes.Issue(ctx, "k")
	if err != nil {
		t.Fatalf("resend after 30s: %v", err)
	}
	if first != second {
		if err := codes.Check(ctx, "k", first); !errors.Is(err, ErrCodeWrong) {
			t.Fatalf("replaced code: err = %v, want ErrCodeWrong", err)
		}
	}
	if err := codes.Check(ctx, "k", second); err != nil {
		t.Fatalf("new code: %v", err)
	}
}

// wrong returns a six-digit code different from code.
func wrong(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}
