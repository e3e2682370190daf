package imap

import (
	"strings"
	"time"
)

// SearchKey is one search criterion (RFC 9051 §6.4.4). Op is the key's
// name in upper case; a parenthesised list and the top level of a command
// with several keys are "AND", a bare sequence set is "SEQSET". The
// argument, when the key has one, is in the field that fits its type.
type SearchKey struct {
	Op    string
	Value string       // text of BCC, BODY, CC, FROM, HEADER, SUBJECT, TEXT, TO; flag of KEYWORD, UNKEYWORD
	Field string       // header field name of HEADER
	Date  time.Time    // BEFORE, ON, SINCE, SENTBEFORE, SENTON, SENTSINCE
	Num   uint64       // LARGER, SMALLER, MODSEQ (RFC 7162 §3.1.5)
	Set   NumSet       // SEQSET, UID
	Keys  []*SearchKey // AND: all of them; OR: two; NOT: one
}

// maxSearchDepth bounds the nesting of NOT, OR and parentheses, so a
// hostile client cannot exhaust the stack.
const maxSearchDepth = 64

// searchKeys reads 1*(search-key) separated by spaces, to the end of the
// line; several keys are joined by AND.
func (p *Parser) searchKeys() *SearchKey {
	first := p.searchKey(0)
	if p.atEnd() {
		return first
	}
	and := &SearchKey{Op: "AND", Keys: []*SearchKey{first}}
	for p.err == nil && p.take(' ') {
		and.Keys = append(and.Keys, p.searchKey(0))
	}
	return and
}

// searchKey reads one search-key (RFC 9051 §9, RFC 7162 §3.1.5).
func (p *Parser) searchKey(depth int) *SearchKey {
	if depth > maxSearchDepth {
		p.fail("search keys nested too deeply")
		return &SearchKey{}
	}
	c := p.peek()
	switch {
	case c == '(':
		k := &SearchKey{Op: "AND"}
		p.parenList(func() { k.Keys = append(k.Keys, p.searchKey(depth+1)) })
		if len(k.Keys) == 0 && p.err == nil {
			p.fail("empty search key list")
		}
		return k
	case isDigit(c) || c == '*' || c == '$':
		return &SearchKey{Op: "SEQSET", Set: p.numSet()}
	}
	k := &SearchKey{Op: strings.ToUpper(p.atom())}
	switch k.Op {
	case "ALL", "ANSWERED", "DELETED", "DRAFT", "FLAGGED", "NEW", "OLD", "RECENT", "SEEN",
		"UNANSWERED", "UNDELETED", "UNDRAFT", "UNFLAGGED", "UNSEEN":
	case "BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO":
		p.sp()
		k.Value = p.astring()
	case "KEYWORD", "UNKEYWORD":
		p.sp()
		k.Value = p.flag()
	case "HEADER":
		p.sp()
		k.Field = p.astring()
		p.sp()
		k.Value = p.astring()
	case "BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE":
		p.sp()
		k.Date = p.date()
	case "LARGER", "SMALLER":
		p.sp()
		k.Num = p.number64()
	case "UID":
		p.sp()
		k.Set = p.numSet()
	case "NOT":
		p.sp()
		k.Keys = []*SearchKey{p.searchKey(depth + 1)}
	case "OR":
		p.sp()
		a := p.searchKey(depth + 1)
		p.sp()
		b := p.searchKey(depth + 1)
		k.Keys = []*SearchKey{a, b}
	case "MODSEQ":
		// RFC 7162 §3.1.5: MODSEQ [SP entry-name SP entry-type-req] SP value.
		p.sp()
		if p.peek() == '"' {
			p.quoted()
			p.sp()
			p.atom()
			p.sp()
		}
		k.Num = p.number64()
	default:
		if p.err == nil {
			p.fail("unknown search key %s", k.Op)
		}
	}
	return k
}
