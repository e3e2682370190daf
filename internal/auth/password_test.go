package auth

import (
	"errors"
	"strings"
	"testing"
)

// testParams are cheap parameters so the tests stay fast under -race.
func testParams() PasswordParams {
	return PasswordParams{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
}

func TestPassword(t *testing.T) {
	hash, err := HashPassword("correct horse", testParams())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q does not carry its parameters", hash)
	}
	other, err := HashPassword("correct horse", testParams())
	if err != nil {
		t.Fatal(err)
	}
	if other == hash {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	tests := []struct {
		name, hash, password string
		ok                   bool
		err                  error
	}{
		{"right", hash, "correct horse", true, nil},
		{"wrong", hash, "correct horse ", false, nil},
		{"empty", hash, "", false, nil},
		{"not argon2id", strings.Replace(hash, "argon2id", "argon2i", 1), "correct horse", false, ErrBadHash},
		{"bad version", strings.Replace(hash, "v=19", "v=16", 1), "correct horse", false, ErrBadHash},
		{"zero memory", strings.Replace(hash, "m=1024", "m=0", 1), "correct horse", false, ErrBadHash},
		{"truncated", hash[:len(hash)-30], "correct horse", false, ErrBadHash},
		{"garbage", "plain", "plain", false, ErrBadHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := VerifyPassword(tt.hash, tt.password)
			if ok != tt.ok || !errors.Is(err, tt.err) {
				t.Fatalf("VerifyPassword = %v, %v; want %v, %v", ok, err, tt.ok, tt.err)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	hash, err := HashPassword("pw", testParams())
	if err != nil {
		t.Fatal(err)
	}
	stronger := testParams()
	stronger.Time = 3
	tests := []struct {
		name string
		p    PasswordParams
		want bool
	}{
		{"same", testParams(), false},
		{"stronger", stronger, true},
		{"default", DefaultPasswordParams(), true},
	}
	for _, tt := range tests {
		if got := NeedsRehash(hash, tt.p); got != tt.want {
			t.Errorf("%s: NeedsRehash = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !NeedsRehash("garbage", testParams()) {
		t.Error("a malformed hash should need a rehash")
	}
}
