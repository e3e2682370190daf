package core

import (
	"fmt"
	"sort"
	"strings"
)

// Rights is a set of RFC 4314 rights, plus two of ours for sending. Every door
// speaks this vocabulary; IMAP shows it as letters (RFC 4314 §2.1), with the two
// sending rights as the digits the RFC leaves to implementations.
type Rights uint32

// The rights a person may hold on a mailbox.
const (
	RightLookup         Rights = 1 << iota // l: see the mailbox in lists
	RightRead                              // r: open folders, read messages
	RightSeen                              // s: keep \Seen
	RightWrite                             // w: set other flags and keywords
	RightInsert                            // i: append, copy into
	RightPost                              // p: send to the submission address
	RightCreate                            // k: create sub-folders
	RightDeleteFolder                      // x: delete or rename folders
	RightDeleteMessages                    // t: set \Deleted
	RightExpunge                           // e: expunge
	RightAdmin                             // a: change rights
	RightSendOnBehalf                      // 1: send with Sender: the person, From: the mailbox
	RightSendAs                            // 2: send with From: the mailbox, no Sender:

	// AllRights is what an owner holds.
	AllRights = RightLookup | RightRead | RightSeen | RightWrite | RightInsert | RightPost |
		RightCreate | RightDeleteFolder | RightDeleteMessages | RightExpunge | RightAdmin |
		RightSendOnBehalf | RightSendAs
)

var rightLetters = []struct {
	r      Rights
	letter byte
	name   string
}{
	{RightLookup, 'l', "lookup"},
	{RightRead, 'r', "read"},
	{RightSeen, 's', "seen"},
	{RightWrite, 'w', "write"},
	{RightInsert, 'i', "insert"},
	{RightPost, 'p', "post"},
	{RightCreate, 'k', "create"},
	{RightDeleteFolder, 'x', "delete"},
	{RightDeleteMessages, 't', "delete-messages"},
	{RightExpunge, 'e', "expunge"},
	{RightAdmin, 'a', "admin"},
	{RightSendOnBehalf, '1', "send-on-behalf"},
	{RightSendAs, '2', "send-as"},
}

// rightSets are names for the usual combinations.
var rightSets = map[string]Rights{
	"all":       AllRights,
	"read-only": RightLookup | RightRead | RightSeen,
	"member": RightLookup | RightRead | RightSeen | RightWrite | RightInsert | RightPost |
		RightCreate | RightDeleteMessages | RightExpunge | RightSendOnBehalf,
	// RFC 4314 §2.1.1: the obsolete "c" and "d" rights map to these.
	"c": RightCreate,
	"d": RightDeleteMessages | RightExpunge | RightDeleteFolder,
}

// ParseRights reads rights written as IMAP letters ("lrswi"), as comma-separated
// names ("read,seen,send-as"), or as a named set ("all", "read-only", "member").
func ParseRights(s string) (Rights, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return 0, nil
	}
	if r, ok := rightSets[s]; ok {
		return r, nil
	}
	var out Rights
	if strings.ContainsAny(s, ",-") || len(s) > 13 || isName(s) {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			if r, ok := rightSets[part]; ok {
				out |= r
				continue
			}
			r, ok := rightByName(part)
			if !ok {
				return 0, fmt.Errorf("%w: unknown right %q (want letters of lrswipkxtea12, names like read,seen,send-as, or all, read-only, member)", ErrInvalid, part)
			}
			out |= r
		}
		return out, nil
	}
	for i := 0; i < len(s); i++ {
		r, ok := rightByLetter(s[i])
		if !ok {
			return 0, fmt.Errorf("%w: unknown right %q in %q", ErrInvalid, s[i], s)
		}
		out |= r
	}
	return out, nil
}

// String writes the rights as letters in RFC 4314 order.
func (r Rights) String() string {
	var b strings.Builder
	for _, l := range rightLetters {
		if r&l.r != 0 {
			b.WriteByte(l.letter)
		}
	}
	return b.String()
}

// Names writes the rights as comma-separated names.
func (r Rights) Names() string {
	var names []string
	for _, l := range rightLetters {
		if r&l.r != 0 {
			names = append(names, l.name)
		}
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

// Has tells whether every right in want is in r.
func (r Rights) Has(want Rights) bool { return r&want == want }

func rightByLetter(c byte) (Rights, bool) {
	for _, l := range rightLetters {
		if l.letter == c {
			return l.r, true
		}
	}
	if r, ok := rightSets[string(c)]; ok {
		return r, true
	}
	return 0, false
}

func rightByName(name string) (Rights, bool) {
	for _, l := range rightLetters {
		if l.name == name {
			return l.r, true
		}
	}
	return 0, false
}

func isName(s string) bool {
	_, ok := rightByName(s)
	return ok
}
