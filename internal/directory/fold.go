package directory

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Fold returns s as the directory compares names: in lower case, without
// accents, with every run of characters other than letters and digits turned
// into one space and no space at either end. "  Saint-Étienne " becomes
// "saint etienne", "Cœur" becomes "coeur".
func Fold(s string) string { return fold(s) }

func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if r < utf8.RuneSelf {
			switch {
			case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			case 'A' <= r && r <= 'Z':
				r += 'a' - 'A'
			default:
				space = true
				continue
			}
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
			continue
		}
		f := foldRune(r)
		if f == "" {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(f)
	}
	return b.String()
}

// foldRune folds one non-ASCII rune: a Latin letter to its base letters, any other
// letter or digit to its lower case, everything else to "".
func foldRune(r rune) string {
	switch r {
	case 'Æ', 'æ':
		return "ae"
	case 'Œ', 'œ':
		return "oe"
	case 'ß':
		return "ss"
	case 'Ø', 'ø':
		return "o"
	case 'Ł', 'ł':
		return "l"
	case 'Đ', 'đ':
		return "d"
	}
	if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
		return ""
	}
	d := norm.NFD.String(string(r))
	if base, _ := utf8.DecodeRuneInString(d); base < utf8.RuneSelf {
		return strings.ToLower(string(base))
	}
	return string(unicode.ToLower(r))
}

// words returns the folded words of s.
func words(s string) []string {
	return strings.Fields(fold(s))
}

// stopWord reports whether w is left out of organisation tokens: such words
// match nearly everything.
func stopWord(w string) bool {
	switch w {
	case "de", "du", "des", "la", "le", "les", "et", "en", "au", "aux", "sur", "sous":
		return true
	}
	return false
}

// Token tags: the first byte of an indexed token tells which field it comes from.
const (
	tagName = 'n' // last or first name
	tagOrg  = 'o' // organisation
)

// nameTokens returns the indexed tokens of a person's or mailbox's names: each
// word of two letters or more, and the words of a compound name joined
// ("le gall" also gives "legall", "jean pierre" "jeanpierre").
func nameTokens(names ...string) []string {
	var toks []string
	for _, n := range names {
		ws := words(n)
		for _, w := range ws {
			if len(w) > 1 {
				toks = appendUnique(toks, w)
			}
		}
		if len(ws) > 1 {
			toks = appendUnique(toks, strings.Join(ws, ""))
		}
	}
	return toks
}

// orgTokens returns the indexed tokens of an organisation's name: its words
// without stop words, at most eight.
func orgTokens(name string) []string {
	var toks []string
	for _, w := range words(name) {
		if len(toks) == 8 {
			break
		}
		if !stopWord(w) && len(w) > 1 {
			toks = appendUnique(toks, w)
		}
	}
	return toks
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// tokenList encodes tagged tokens as the JSON array stored with each entry, which
// the import expands into postings and searches match with LIKE. Tokens hold only
// folded letters and digits, so no JSON escaping is needed.
func tokenList(names, orgs []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for _, group := range []struct {
		tag  byte
		toks []string
	}{{tagName, names}, {tagOrg, orgs}} {
		for _, t := range group.toks {
			if b.Len() > 1 {
				b.WriteByte(',')
			}
			b.WriteByte('"')
			b.WriteByte(group.tag)
			b.WriteString(t)
			b.WriteByte('"')
		}
	}
	b.WriteByte(']')
	return b.String()
}

// parseTokenList decodes what tokenList encoded, returning the name and
// organisation tokens without their tags.
func parseTokenList(s string) (names, orgs []string) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	for t := range strings.SplitSeq(s, ",") {
		t = strings.Trim(t, `"`)
		if len(t) < 2 {
			continue
		}
		switch t[0] {
		case tagName:
			names = append(names, t[1:])
		case tagOrg:
			orgs = append(orgs, t[1:])
		}
	}
	return names, orgs
}

// rankOf places a name in alphabetical order with one integer, for the indexes
// to read entries roughly in display order: the first twelve characters of the
// folded "last first", in base 38 (end, space, digits, letters, other).
func rankOf(last, first string) int64 {
	s := fold(last) + " " + fold(first)
	var r int64
	for i := range 12 {
		var c int64
		if i < len(s) {
			switch b := s[i]; {
			case b == ' ':
				c = 1
			case '0' <= b && b <= '9':
				c = 2 + int64(b-'0')
			case 'a' <= b && b <= 'z':
				c = 12 + int64(b-'a')
			default:
				c = 37
			}
		}
		r = r*38 + c
	}
	return r
}

// sortKey orders entries for display: last name, first name, city, then id.
func sortKey(last, first, city, id string) string {
	return fold(last) + "\x01" + fold(first) + "\x01" + fold(city) + "\x01" + id
}

// cityKey folds a city name and spells out the abbreviations of saints, as
// registrations vary: "ST-ETIENNE" and "Saint-Étienne" give "saint etienne".
func cityKey(city string) string {
	ws := words(city)
	for i, w := range ws {
		switch w {
		case "st":
			ws[i] = "saint"
		case "ste":
			ws[i] = "sainte"
		}
	}
	return strings.Join(ws, " ")
}
