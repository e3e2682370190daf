package ldap

import (
	"context"
	"errors"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	goldap "github.com/go-ldap/ldap/v3"

	"caduceus/internal/directory"
)

// search answers a SearchRequest (RFC 4511 §4.5).
func (c *conn) search(ctx context.Context, id int64, op *ber.Packet) error {
	done := func(code int, diagnostic string) error {
		return c.write(id, result(goldap.ApplicationSearchResultDone, code, diagnostic))
	}
	base := str(child(op, 0))
	scope := int(integer(child(op, 1)))
	sizeLimit := int(integer(child(op, 3)))
	timeLimit := time.Duration(integer(child(op, 4))) * time.Second
	typesOnly := integer(child(op, 5)) != 0
	f, err := parseFilter(child(op, 6), 0)
	if err != nil {
		return done(goldap.LDAPResultProtocolError, "malformed filter")
	}
	sel := selection(child(op, 7))
	send := func(dn string, attrs []attribute) error {
		return c.write(id, searchEntry(dn, attrs, sel, typesOnly))
	}
	if base == "" && scope == goldap.ScopeBaseObject {
		if attrs := c.srv.rootDSE(); f.match(index(attrs)) == isTrue {
			if err := send("", attrs); err != nil {
				return err
			}
		}
		return done(goldap.LDAPResultSuccess, "")
	}
	if !c.bound && !c.srv.opts.Anonymous {
		return done(goldap.LDAPResultInsufficientAccessRights, "bind first")
	}
	limit := c.srv.opts.SizeLimit
	if sizeLimit > 0 {
		limit = min(limit, sizeLimit)
	}
	if timeLimit > 0 && timeLimit < requestTimeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeLimit)
		defer cancel()
	}
	dn, err := goldap.ParseDN(base)
	if err != nil {
		return done(goldap.LDAPResultInvalidDNSyntax, "invalid base DN")
	}
	switch {
	case dn.EqualFold(c.srv.base):
		if scope == goldap.ScopeBaseObject {
			if attrs := c.srv.baseEntry(); f.match(index(attrs)) == isTrue {
				if err := send(c.srv.opts.BaseDN, attrs); err != nil {
					return err
				}
			}
			return done(goldap.LDAPResultSuccess, "")
		}
	case len(dn.RDNs) == len(c.srv.base.RDNs)+1 && c.srv.base.AncestorOfFold(dn):
		// One entry: read it rather than search.
		e, err := c.srv.entryOf(ctx, dn)
		switch {
		case errors.Is(err, directory.ErrNotFound):
			return done(goldap.LDAPResultNoSuchObject, "no such entry")
		case err != nil:
			return done(goldap.LDAPResultOperationsError, "directory unavailable")
		}
		if scope != goldap.ScopeSingleLevel {
			if attrs := c.srv.attributes(&e); f.match(index(attrs)) == isTrue {
				if err := send(c.srv.dn(&e), attrs); err != nil {
					return err
				}
			}
		}
		return done(goldap.LDAPResultSuccess, "")
	default:
		return done(goldap.LDAPResultNoSuchObject, "entries are under "+c.srv.opts.BaseDN)
	}
	const narrow = "the filter must narrow the search by cn, sn, givenName, displayName, mail, o, l, postalCode or st"
	queries, ok := plan(f)
	if !ok {
		return done(goldap.LDAPResultUnwillingToPerform, narrow)
	}
	more, searchErr, err := c.searchEntries(ctx, queries, f, limit, send)
	switch {
	case err != nil:
		return err
	case errors.Is(searchErr, directory.ErrBroadQuery):
		return done(goldap.LDAPResultUnwillingToPerform, narrow)
	case errors.Is(searchErr, context.DeadlineExceeded):
		return done(goldap.LDAPResultTimeLimitExceeded, "")
	case searchErr != nil:
		return done(goldap.LDAPResultOperationsError, "directory unavailable")
	case more:
		return done(goldap.LDAPResultSizeLimitExceeded, "")
	}
	return done(goldap.LDAPResultSuccess, "")
}

// searchEntries sends the entries of the queries that match f, at most limit,
// and reports whether more matched. It returns the directory's error apart
// from the connection's.
func (c *conn) searchEntries(ctx context.Context, queries []directory.Query, f *filter, limit int,
	send func(dn string, attrs []attribute) error) (more bool, searchErr, writeErr error) {
	seen := make(map[string]bool)
	sent := 0
	for _, q := range queries {
		q.Limit = directory.MaxLimit
		for {
			res, err := c.srv.dir.Search(ctx, q)
			if errors.Is(err, directory.ErrEmptyQuery) {
				break
			}
			if err != nil {
				return false, err, nil
			}
			for i := range res.Entries {
				e := &res.Entries[i]
				if seen[e.ID] {
					continue
				}
				seen[e.ID] = true
				attrs := c.srv.attributes(e)
				if f.match(index(attrs)) != isTrue {
					continue
				}
				if sent == limit {
					return true, nil, nil
				}
				if err := send(c.srv.dn(e), attrs); err != nil {
					return false, nil, err
				}
				sent++
			}
			q.Offset += len(res.Entries)
			if len(res.Entries) == 0 || q.Offset >= res.Total {
				break
			}
		}
	}
	return false, nil, nil
}

// selection returns the requested attribute names in lower case: nil for all
// user attributes, an empty set for none ("1.1", RFC 4511 §4.5.1.8).
func selection(p *ber.Packet) map[string]bool {
	if p == nil || len(p.Children) == 0 {
		return nil
	}
	sel := make(map[string]bool)
	for _, c := range p.Children {
		a := strings.ToLower(str(c))
		if a == "*" {
			return nil
		}
		if a != "1.1" {
			sel[a] = true
		}
	}
	return sel
}

// searchEntry builds a SearchResultEntry with the selected attributes.
func searchEntry(dn string, attrs []attribute, sel map[string]bool, typesOnly bool) *ber.Packet {
	op := ber.Encode(ber.ClassApplication, ber.TypeConstructed, goldap.ApplicationSearchResultEntry, nil, "")
	op.AppendChild(octets(dn))
	list := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
	for _, a := range attrs {
		if sel != nil && !sel[strings.ToLower(a.name)] || len(a.values) == 0 {
			continue
		}
		pa := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSequence, nil, "")
		pa.AppendChild(octets(a.name))
		vals := ber.Encode(ber.ClassUniversal, ber.TypeConstructed, ber.TagSet, nil, "")
		if !typesOnly {
			for _, v := range a.values {
				vals.AppendChild(octets(v))
			}
		}
		pa.AppendChild(vals)
		list.AppendChild(pa)
	}
	op.AppendChild(list)
	return op
}
