package imap

import "strings"

// baseSubject extracts the base subject that SORT and THREAD compare
// (RFC 5256 §2.1), from a subject already decoded to UTF-8, and reports
// whether the message is a reply or a forward: whether a "Re:", "Fw:",
// "Fwd:", "(fwd)" or "[fwd: ...]" was removed. The base subject is folded
// to lower case, so that subjects compare without regard to case.
func baseSubject(s string) (base string, replyOrForward bool) {
	// Step 1: every run of white space becomes one space.
	s = strings.Join(strings.Fields(s), " ")
	for {
		// Step 2: remove trailers, "(fwd)" and spaces, repeatedly.
		for {
			t := strings.TrimRight(s, " ")
			if len(t) >= 5 && strings.EqualFold(t[len(t)-5:], "(fwd)") {
				t = t[:len(t)-5]
				replyOrForward = true
			}
			if t == s {
				break
			}
			s = t
		}
		// Steps 3 to 5: remove leaders, then a leading blob when text
		// remains after it, until neither applies.
		for {
			t := strings.TrimLeft(s, " ")
			if rest, ok := cutReplyForward(t); ok {
				t = rest
				replyOrForward = true
			}
			if rest, ok := cutBlob(t); ok && rest != "" {
				t = rest
			}
			if t == s {
				break
			}
			s = t
		}
		// Step 6: "[fwd:" subject "]" is unwrapped, and all begins again.
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s = s[5 : len(s)-1]
			replyOrForward = true
			continue
		}
		return strings.ToLower(s), replyOrForward
	}
}

// cutReplyForward removes a subj-leader's *subj-blob subj-refwd from the
// start of s: blobs, then "re", "fw" or "fwd", spaces, an optional blob
// and a colon (RFC 5256 §5).
func cutReplyForward(s string) (string, bool) {
	t := s
	for {
		rest, ok := cutBlob(t)
		if !ok {
			break
		}
		t = rest
	}
	var rest string
	switch {
	case hasPrefixFold(t, "fwd"):
		rest = t[3:]
	case hasPrefixFold(t, "fw"), hasPrefixFold(t, "re"):
		rest = t[2:]
	default:
		return s, false
	}
	rest = strings.TrimLeft(rest, " ")
	if r, ok := cutBlob(rest); ok {
		rest = r
	}
	if !strings.HasPrefix(rest, ":") {
		return s, false
	}
	return rest[1:], true
}

// cutBlob removes a subj-blob from the start of s: "[" text without
// brackets "]" and the spaces after it (RFC 5256 §5).
func cutBlob(s string) (string, bool) {
	if !strings.HasPrefix(s, "[") {
		return s, false
	}
	end := strings.IndexAny(s[1:], "[]")
	if end < 0 || s[1+end] != ']' {
		return s, false
	}
	return strings.TrimLeft(s[end+2:], " "), true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
