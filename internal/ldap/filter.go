package ldap

import (
	"errors"
	"strings"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"caduceus/internal/directory"
)

// filter is a search filter (RFC 4511 §4.5.1.7).
type filter struct {
	kind  int    // goldap.FilterAnd and the others
	attr  string // attribute description, in lower case
	value string // assertion value
	// Substrings.
	initial, final string
	any            []string
	kids           []*filter
}

// maxFilterDepth bounds the nesting of a filter.
const maxFilterDepth = 16

var errFilter = errors.New("malformed filter")

// parseFilter reads a filter from its BER form.
func parseFilter(p *ber.Packet, depth int) (*filter, error) {
	if p == nil || p.ClassType != ber.ClassContext || depth > maxFilterDepth {
		return nil, errFilter
	}
	f := &filter{kind: int(p.Tag)}
	switch f.kind {
	case goldap.FilterAnd, goldap.FilterOr, goldap.FilterNot:
		if len(p.Children) == 0 || f.kind == goldap.FilterNot && len(p.Children) != 1 {
			return nil, errFilter
		}
		for _, c := range p.Children {
			k, err := parseFilter(c, depth+1)
			if err != nil {
				return nil, err
			}
			f.kids = append(f.kids, k)
		}
	case goldap.FilterEqualityMatch, goldap.FilterGreaterOrEqual, goldap.FilterLessOrEqual, goldap.FilterApproxMatch:
		if len(p.Children) != 2 {
			return nil, errFilter
		}
		f.attr, f.value = strings.ToLower(str(p.Children[0])), str(p.Children[1])
	case goldap.FilterSubstrings:
		if len(p.Children) != 2 {
			return nil, errFilter
		}
		f.attr = strings.ToLower(str(p.Children[0]))
		for _, s := range p.Children[1].Children {
			switch int(s.Tag) {
			case goldap.FilterSubstringsInitial:
				f.initial = str(s)
			case goldap.FilterSubstringsAny:
				f.any = append(f.any, str(s))
			case goldap.FilterSubstringsFinal:
				f.final = str(s)
			}
		}
	case goldap.FilterPresent:
		f.attr = strings.ToLower(str(p))
	case goldap.FilterExtensibleMatch:
		// Not supported: it matches nothing.
	default:
		return nil, errFilter
	}
	return f, nil
}

// Results of a filter on an entry (RFC 4511 §4.5.1.7): true, false or
// undefined.
type truth int

const (
	isFalse truth = iota
	isTrue
	undefined
)

// match evaluates f on an entry's attributes (lower-case names). Values are
// compared as the directory compares names, except mail in lower case and
// objectClass as is.
func (f *filter) match(attrs map[string][]string) truth {
	switch f.kind {
	case goldap.FilterAnd:
		t := isTrue
		for _, k := range f.kids {
			switch k.match(attrs) {
			case isFalse:
				return isFalse
			case undefined:
				t = undefined
			}
		}
		return t
	case goldap.FilterOr:
		t := isFalse
		for _, k := range f.kids {
			switch k.match(attrs) {
			case isTrue:
				return isTrue
			case undefined:
				t = undefined
			}
		}
		return t
	case goldap.FilterNot:
		switch f.kids[0].match(attrs) {
		case isTrue:
			return isFalse
		case isFalse:
			return isTrue
		}
		return undefined
	case goldap.FilterExtensibleMatch:
		return undefined
	}
	if !knownAttribute(f.attr) {
		return undefined
	}
	values := attrs[f.attr]
	if f.kind == goldap.FilterPresent {
		return truthOf(len(values) > 0)
	}
	for _, v := range values {
		if f.matchValue(normalize(f.attr, v)) {
			return isTrue
		}
	}
	return isFalse
}

func (f *filter) matchValue(v string) bool {
	switch f.kind {
	case goldap.FilterEqualityMatch, goldap.FilterApproxMatch:
		return v == normalize(f.attr, f.value)
	case goldap.FilterGreaterOrEqual:
		return v >= normalize(f.attr, f.value)
	case goldap.FilterLessOrEqual:
		return v <= normalize(f.attr, f.value)
	case goldap.FilterSubstrings:
		initial, final := normalize(f.attr, f.initial), normalize(f.attr, f.final)
		if !strings.HasPrefix(v, initial) {
			return false
		}
		v = v[len(initial):]
		for _, a := range f.any {
			a = normalize(f.attr, a)
			i := strings.Index(v, a)
			if i < 0 {
				return false
			}
			v = v[i+len(a):]
		}
		return strings.HasSuffix(v, final)
	}
	return false
}

func truthOf(b bool) truth {
	if b {
		return isTrue
	}
	return isFalse
}

// normalize prepares a value of attr for comparison.
func normalize(attr, v string) string {
	switch attr {
	case "mail", "uid":
		return strings.ToLower(strings.TrimSpace(v))
	case "objectclass":
		return strings.ToLower(v)
	}
	return directory.Fold(v)
}

// maxQueries bounds the directory searches one filter may cost.
const maxQueries = 8

// plan returns directory queries whose results together hold every entry that
// f can match; false when f does not narrow the search enough for that, like
// (objectClass=*).
func plan(f *filter) ([]directory.Query, bool) {
	switch f.kind {
	case goldap.FilterAnd:
		var common directory.Query
		var alternatives []directory.Query
		bounded := false
		for _, k := range f.kids {
			qs, ok := plan(k)
			switch {
			case !ok:
			case len(qs) == 1:
				merge(&common, qs[0])
				bounded = true
			case alternatives == nil:
				alternatives, bounded = qs, true
			}
		}
		if !bounded {
			return nil, false
		}
		if alternatives == nil {
			return []directory.Query{common}, true
		}
		for i := range alternatives {
			merge(&alternatives[i], common)
		}
		return alternatives, true
	case goldap.FilterOr:
		var out []directory.Query
		for _, k := range f.kids {
			qs, ok := plan(k)
			if !ok {
				return nil, false
			}
			out = append(out, qs...)
		}
		return out, len(out) > 0 && len(out) <= maxQueries
	case goldap.FilterEqualityMatch, goldap.FilterApproxMatch, goldap.FilterSubstrings:
		q, ok := attributeQuery(f)
		return []directory.Query{q}, ok
	}
	return nil, false
}

// attributeQuery returns the directory query for one assertion.
func attributeQuery(f *filter) (directory.Query, bool) {
	var q directory.Query
	whole := f.kind != goldap.FilterSubstrings
	text := f.value
	if !whole {
		// Substrings are looked up as beginnings of words.
		text = strings.Join(append(append([]string{f.initial}, f.any...), f.final), " ")
	}
	switch f.attr {
	case "cn", "sn", "givenname", "displayname", "name":
		q.Text = text
	case "o", "ou":
		q.Organisation = text
	case "mail":
		if whole {
			q.Mailbox = f.value
		} else {
			q.Mailbox = f.initial
		}
		return q, q.Mailbox != ""
	case "l":
		q.City = f.value
		return q, whole && q.City != ""
	case "postalcode":
		q.Postcode = f.value
		if !whole {
			q.Postcode = f.initial
		}
		return q, q.Postcode != ""
	case "st":
		q.Department = f.value
		return q, whole && q.Department != ""
	case "employeetype":
		q.Kind = directory.MailboxKind(f.value)
		return q, whole && q.Kind != ""
	default:
		return q, false
	}
	return q, directory.Fold(text) != ""
}

// merge adds the criteria of src to dst.
func merge(dst *directory.Query, src directory.Query) {
	dst.Text = strings.TrimSpace(dst.Text + " " + src.Text)
	dst.Organisation = strings.TrimSpace(dst.Organisation + " " + src.Organisation)
	for _, f := range []struct {
		d *string
		s string
	}{
		{&dst.Mailbox, src.Mailbox}, {&dst.City, src.City}, {&dst.Postcode, src.Postcode},
		{&dst.Department, src.Department},
	} {
		if *f.d == "" {
			*f.d = f.s
		}
	}
	if dst.Kind == "" {
		dst.Kind = src.Kind
	}
}
