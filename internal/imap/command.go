package imap

import (
	"io"
	"time"
)

// Command is one command read from a client. Name is upper case; UID is
// set for the UID-prefixed forms (UID FETCH, UID STORE, ...), whose Name is
// the command after the prefix. Args holds the command's arguments as one
// of the *Args types of this file, or nil for commands without arguments.
type Command struct {
	Tag  string
	Name string
	UID  bool
	Args any
}

// LoginArgs are the arguments of LOGIN (RFC 9051 §6.2.3).
type LoginArgs struct {
	Username string
	Password string
}

// AuthenticateArgs are the arguments of AUTHENTICATE (RFC 9051 §6.2.2).
// InitialResponse is the decoded SASL-IR response (RFC 4959); HasInitial
// tells an empty initial response ("=") from none.
type AuthenticateArgs struct {
	Mechanism       string
	InitialResponse []byte
	HasInitial      bool
}

// MailboxArgs carry a single mailbox name: DELETE, SUBSCRIBE, UNSUBSCRIBE,
// GETACL, MYRIGHTS and GETQUOTAROOT. Names are as the client sent them;
// see DecodeMailbox.
type MailboxArgs struct {
	Mailbox string
}

// SelectArgs are the arguments of SELECT and EXAMINE, with the CONDSTORE
// (RFC 7162 §3.1.8) and QRESYNC (RFC 7162 §3.2.5) parameters.
type SelectArgs struct {
	Mailbox   string
	CondStore bool
	QResync   *QResyncArgs
}

// QResyncArgs are the QRESYNC parameters of SELECT (RFC 7162 §3.2.5).
// MatchSeqs and MatchUIDs are the optional sequence match data.
type QResyncArgs struct {
	UIDValidity uint32
	ModSeq      uint64
	KnownUIDs   NumSet
	MatchSeqs   NumSet
	MatchUIDs   NumSet
}

// CreateArgs are the arguments of CREATE, with the special-use attributes
// of CREATE-SPECIAL-USE (RFC 6154 §3).
type CreateArgs struct {
	Mailbox    string
	SpecialUse []string
}

// RenameArgs are the arguments of RENAME (RFC 9051 §6.3.6).
type RenameArgs struct {
	From string
	To   string
}

// ListArgs are the arguments of LIST with LIST-EXTENDED (RFC 5258),
// LIST-STATUS (RFC 5819) and SPECIAL-USE (RFC 6154), and of LSUB, which
// sets Subscribed.
type ListArgs struct {
	Reference string
	Patterns  []string
	Extended  bool // the client used a selection or return option

	// Selection options (RFC 5258 §3.1).
	Subscribed      bool
	Remote          bool
	RecursiveMatch  bool
	SpecialUseOnly  bool
	ReturnSubscribe bool
	ReturnChildren  bool
	ReturnSpecial   bool
	ReturnStatus    []string // STATUS items (RFC 5819)
}

// StatusArgs are the arguments of STATUS (RFC 9051 §6.3.11). Items are
// upper case: MESSAGES, UIDNEXT, UIDVALIDITY, UNSEEN, DELETED, SIZE,
// RECENT, HIGHESTMODSEQ, APPENDLIMIT.
type StatusArgs struct {
	Mailbox string
	Items   []string
}

// AppendArgs are the arguments of APPEND (RFC 9051 §6.3.12), with
// MULTIAPPEND (RFC 3502) and CATENATE (RFC 4469). First is the first
// message. Messages are read from the connection as the door reads them:
// the door reads one to its end, then asks Parser.NextAppend for the next,
// until it returns nil at the end of the command; or it abandons the
// command, which Parser.Discard skips.
type AppendArgs struct {
	Mailbox string
	First   *AppendMessage
}

// AppendMessage is one message of an APPEND: its flags, its date, and its
// content: the literal Message, or, with Catenate, parts that the door
// reads in turn with Parser.NextCatPart.
type AppendMessage struct {
	Flags    []string
	Date     time.Time // zero when the client gave none
	Message  *Literal
	Catenate bool
}

// CatPart is one part of a CATENATE (RFC 4469 §5): the URL of a message
// or part of one on this server, or a text literal, to read to its end.
type CatPart struct {
	URL  string
	Text *Literal
}

// FetchArgs are the arguments of FETCH, with the CONDSTORE CHANGEDSINCE
// and QRESYNC VANISHED modifiers (RFC 7162 §3.1.4, §3.2.6).
type FetchArgs struct {
	Set          NumSet
	Items        []FetchItem
	ChangedSince uint64
	Vanished     bool
}

// StoreArgs are the arguments of STORE (RFC 9051 §6.4.6) with the
// CONDSTORE UNCHANGEDSINCE modifier (RFC 7162 §3.1.3). Op is '+', '-' or
// '=' for add, remove and replace.
type StoreArgs struct {
	Set            NumSet
	Op             byte
	Silent         bool
	Flags          []string
	UnchangedSince uint64
	HasUnchanged   bool
}

// CopyArgs are the arguments of COPY and MOVE.
type CopyArgs struct {
	Set     NumSet
	Mailbox string
}

// SearchArgs are the arguments of SEARCH with ESEARCH return options
// (RFC 4731, RFC 9051 §6.4.4), SORT (RFC 5256, with Criteria) and THREAD
// (RFC 5256, with Algorithm).
type SearchArgs struct {
	Charset   string
	Key       *SearchKey
	Return    []string // MIN, MAX, ALL, COUNT, SAVE, UPDATE, PARTIAL; nil without RETURN
	HasReturn bool
	Partial   *NumRange // the positions of PARTIAL (RFC 5267 §4.4), Start <= Stop
	Update    bool      // UPDATE: keep the search live (RFC 5267 §4.2)
	Criteria  []SortCriterion
	Algorithm string
}

// CancelUpdateArgs are the arguments of CANCELUPDATE (RFC 5267 §4.3): the
// tags of the searches whose updates end.
type CancelUpdateArgs struct {
	Tags []string
}

// SortCriterion is one SORT criterion (RFC 5256 §3).
type SortCriterion struct {
	Key     string // ARRIVAL, CC, DATE, FROM, SIZE, SUBJECT, TO
	Reverse bool
}

// ExpungeArgs are the arguments of UID EXPUNGE (RFC 9051 §6.4.9).
type ExpungeArgs struct {
	Set NumSet
}

// EnableArgs are the arguments of ENABLE (RFC 5161), upper case.
type EnableArgs struct {
	Caps []string
}

// IDArgs are the arguments of ID (RFC 2971): field and value pairs in
// order, nil for ID NIL.
type IDArgs struct {
	Fields [][2]string
}

// ACLArgs are the arguments of the ACL commands (RFC 4314 §3): SETACL uses
// all fields, DELETEACL and LISTRIGHTS the mailbox and identifier. Rights
// keeps a leading '+' or '-' as the client sent it.
type ACLArgs struct {
	Mailbox    string
	Identifier string
	Rights     string
}

// QuotaArgs are the arguments of GETQUOTA and SETQUOTA (RFC 9208 §4).
type QuotaArgs struct {
	Root   string
	Limits map[string]int64
}

// NotifyArgs are the arguments of NOTIFY (RFC 5465 §3.1): None for
// NOTIFY NONE, otherwise the event groups of NOTIFY SET in order, and
// Status when the client asked for the STATUS of each mailbox at once.
type NotifyArgs struct {
	None   bool
	Status bool
	Groups []NotifyGroup
}

// NotifyGroup is one event group of NOTIFY SET (RFC 5465 §6): a mailbox
// filter and the events wanted from the mailboxes it matches. Filter is
// upper case: SELECTED, SELECTED-DELAYED, PERSONAL, INBOXES, SUBSCRIBED,
// SUBTREE or MAILBOXES, the last two with Mailboxes as the client sent
// them. Events have the RFC's spelling (MessageNew, FlagChange, ...), or
// the client's for events this package does not know; they are empty for
// NONE. Fetch holds the fetch-atts of MessageNew, for SELECTED only.
type NotifyGroup struct {
	Filter    string
	Mailboxes []string
	Events    []string
	Fetch     []FetchItem
}

// Literal is a literal sent by a client and read on demand: the message
// of an APPEND. A synchronizing literal asks the client for its bytes on
// the first Read.
type Literal struct {
	Size   int64
	Sync   bool
	Binary bool // literal8 (RFC 3516 §4.2)

	r *literalReader
}

// Read reads from the literal; it returns io.EOF at its end once the rest
// of the command line has been checked.
func (l *Literal) Read(b []byte) (int, error) {
	return l.r.Read(b)
}

var _ io.Reader = (*Literal)(nil)
