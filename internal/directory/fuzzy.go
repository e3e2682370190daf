package directory

// minFuzzy is the shortest query word forgiven a typo: shorter ones would match
// too much.
const minFuzzy = 4

// Match qualities of a query word against a word of an entry, best first.
const (
	matchExact  = 0
	matchPrefix = 1
	matchTypo   = 2
	matchNone   = 3
)

// matchWord tells how word w of an entry matches query word q.
func matchWord(q, w string) int {
	switch {
	case q == w:
		return matchExact
	case len(w) > len(q) && w[:len(q)] == q:
		return matchPrefix
	case len(q) >= minFuzzy && oneEdit(q, w):
		return matchTypo
	}
	return matchNone
}

// oneEdit reports whether a and b differ by exactly one edit: a letter changed,
// added, removed, or two neighbours swapped.
func oneEdit(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	switch len(b) - len(a) {
	case 0:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		if i == len(a) {
			return false // equal
		}
		if a[i+1:] == b[i+1:] {
			return true // changed
		}
		return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && a[i+2:] == b[i+2:] // swapped
	case 1:
		i := 0
		for i < len(a) && a[i] == b[i] {
			i++
		}
		return a[i:] == b[i+1:]
	}
	return false
}

// typoVariants returns every string one edit away from q over the letters a to z,
// q itself excluded; nil when q is too short to be forgiven a typo.
func typoVariants(q string) []string {
	if len(q) < minFuzzy {
		return nil
	}
	seen := map[string]bool{q: true}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for i := range len(q) {
		add(q[:i] + q[i+1:])
		if i+1 < len(q) {
			add(q[:i] + string(q[i+1]) + string(q[i]) + q[i+2:])
		}
	}
	for i := 0; i <= len(q); i++ {
		for c := byte('a'); c <= 'z'; c++ {
			add(q[:i] + string(c) + q[i:])
			if i < len(q) {
				add(q[:i] + string(c) + q[i+1:])
			}
		}
	}
	return out
}

// typoPatterns returns LIKE patterns, '_' standing for any one letter, that
// together match every word one edit away from q, or nil when q is too short.
func typoPatterns(q string) []string {
	if len(q) < minFuzzy {
		return nil
	}
	var out []string
	for i := 0; i <= len(q); i++ {
		out = append(out, q[:i]+"_"+q[i:]) // added
		if i < len(q) {
			out = append(out, q[:i]+"_"+q[i+1:], q[:i]+q[i+1:]) // changed, removed
		}
		if i+1 < len(q) {
			out = append(out, q[:i]+string(q[i+1])+string(q[i])+q[i+2:]) // swapped
		}
	}
	return out
}
