package auth

import (
	_ "embed"
	"errors"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// MinPasswordLength is the shortest password a person may choose. Length
// does more than character classes (NIST SP 800-63B §3.1.1.2).
const MinPasswordLength = 12

// Refusals of a new password; doors show each with its own words.
var (
	ErrPasswordShort  = errors.New("auth: password too short")
	ErrPasswordCommon = errors.New("auth: password too common or built on a common word")
	ErrPasswordPerson = errors.New("auth: password built on the account's own address")
)

//go:embed common-passwords.txt
var commonList string

var common = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(commonList, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			m[l] = true
		}
	}
	return m
})

// CheckPassword tells whether password may be chosen by the owner of
// address: long enough, not on the list of common and breached passwords
// shipped in the binary, not one of them dressed up with digits, symbols or
// look-alike letters, and not built on the address itself.
func CheckPassword(password, address string) error {
	if utf8.RuneCountInString(password) < MinPasswordLength {
		return ErrPasswordShort
	}
	lower := strings.ToLower(password)
	core := passwordCore(lower)
	list := common()
	if list[lower] || list[core] || len(core) < 4 || repetitive(core) {
		return ErrPasswordCommon
	}
	if letters(strip(core, list)) < 4 {
		return ErrPasswordCommon
	}
	local, _, _ := strings.Cut(strings.ToLower(address), "@")
	parts := map[string]bool{}
	for _, part := range strings.FieldsFunc(local, func(r rune) bool { return r == '.' || r == '-' || r == '_' || r == '+' }) {
		if len(part) >= 3 {
			parts[passwordCore(part)] = true
		}
	}
	if len(parts) > 0 && letters(strip(core, parts)) < 4 {
		return ErrPasswordPerson
	}
	return nil
}

// passwordCore undoes the usual disguises: look-alike digits and symbols
// turned back into letters, then digits and symbols stripped from both ends.
func passwordCore(s string) string {
	trimmed := strings.TrimFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
	if trimmed == "" {
		return strings.TrimFunc(s, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r) })
	}
	r := strings.NewReplacer("0", "o", "1", "i", "3", "e", "4", "a", "5", "s", "7", "t", "@", "a", "$", "s", "!", "i", "€", "e")
	out := r.Replace(trimmed)
	return strings.TrimFunc(out, func(r rune) bool { return !unicode.IsLetter(r) })
}

// strip removes from s every word of words (four letters or more) it
// contains, such as "soleil" from "soleilsoleil".
func strip(s string, words map[string]bool) string {
	for w := range words {
		if len(w) >= 4 && strings.Contains(s, w) {
			s = strings.ReplaceAll(s, w, "")
		}
	}
	return s
}

// letters counts the letters of s.
func letters(s string) int {
	n := 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n
}

// repetitive reports runs like "aaaaaaaaaaaa" or "abababababab".
func repetitive(s string) bool {
	for n := 1; n <= 3 && n < len(s); n++ {
		if strings.Repeat(s[:n], len(s)/n+1)[:len(s)] == s {
			return true
		}
	}
	return false
}
