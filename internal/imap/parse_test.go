package imap

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

// newTestParser returns a parser over input, counting continuation
// requests.
func newTestParser(input string, limits Limits) (*Parser, *int) {
	conts := 0
	p := NewParser(bufio.NewReader(strings.NewReader(input)), limits, func() error {
		conts++
		return nil
	})
	return p, &conts
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  *Command
		conts int
	}{
		{"noop", "a1 NOOP\r\n", &Command{Tag: "a1", Name: "NOOP"}, 0},
		{"lower case", "a1 capability\r\n", &Command{Tag: "a1", Name: "CAPABILITY"}, 0},
		{"bare LF", "a1 NOOP\n", &Command{Tag: "a1", Name: "NOOP"}, 0},
		{"login atoms", "a LOGIN alice s3cret\r\n",
			&Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{"alice", "s3cret"}}, 0},
		{"login quoted", `a LOGIN "al ice" "p\"w\\d"` + "\r\n",
			&Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{"al ice", `p"w\d`}}, 0},
		{"login literals", "a LOGIN {5}\r\nalice {3+}\r\npwd\r\n",
			&Command{Tag: "a", Name: "LOGIN", Args: &LoginArgs{"alice", "pwd"}}, 1},
		{"authenticate with initial response", "a AUTHENTICATE PLAIN AGFsaWNlAHB3ZA==\r\n",
			&Command{Tag: "a", Name: "AUTHENTICATE", Args: &AuthenticateArgs{"PLAIN", []byte("\x00alice\x00pwd"), true}}, 0},
		{"authenticate empty initial response", "a AUTHENTICATE PLAIN =\r\n",
			&Command{Tag: "a", Name: "AUTHENTICATE", Args: &AuthenticateArgs{"PLAIN", []byte{}, true}}, 0},
		{"authenticate", "a authenticate plain\r\n",
			&Command{Tag: "a", Name: "AUTHENTICATE", Args: &AuthenticateArgs{Mechanism: "PLAIN"}}, 0},
		{"select inbox any case", "a SELECT inBox\r\n",
			&Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX"}}, 0},
		{"examine condstore", "a EXAMINE Archive (CONDSTORE)\r\n",
			&Command{Tag: "a", Name: "EXAMINE", Args: &SelectArgs{Mailbox: "Archive", CondStore: true}}, 0},
		{"select qresync", "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:3 4:6)))\r\n",
			&Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", QResync: &QResyncArgs{
				UIDValidity: 67890007, ModSeq: 20050715194045000,
				KnownUIDs: NumSet{Ranges: []NumRange{{41, 41}, {43, 211}, {214, 541}}},
				MatchSeqs: NumSet{Ranges: []NumRange{{1, 3}}},
				MatchUIDs: NumSet{Ranges: []NumRange{{4, 6}}},
			}}}, 0},
		{"select qresync minimal", "a SELECT INBOX (QRESYNC (1 2))\r\n",
			&Command{Tag: "a", Name: "SELECT", Args: &SelectArgs{Mailbox: "INBOX", QResync: &QResyncArgs{UIDValidity: 1, ModSeq: 2}}}, 0},
		{"create special use", `a CREATE "Sent Mail" (USE (\Sent))` + "\r\n",
			&Command{Tag: "a", Name: "CREATE", Args: &CreateArgs{"Sent Mail", []string{`\Sent`}}}, 0},
		{"rename", "a RENAME old new\r\n",
			&Command{Tag: "a", Name: "RENAME", Args: &RenameArgs{"old", "new"}}, 0},
		{"list", `a LIST "" *` + "\r\n",
			&Command{Tag: "a", Name: "LIST", Args: &ListArgs{Patterns: []string{"*"}}}, 0},
		{"list extended", `a LIST (SUBSCRIBED RECURSIVEMATCH) "" ("%" "Shared/*") RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))` + "\r\n",
			&Command{Tag: "a", Name: "LIST", Args: &ListArgs{
				Patterns: []string{"%", "Shared/*"}, Extended: true, Subscribed: true, RecursiveMatch: true,
				ReturnChildren: true, ReturnSpecial: true, ReturnStatus: []string{"MESSAGES", "UNSEEN"},
			}}, 0},
		{"lsub", "a LSUB \"\" %\r\n",
			&Command{Tag: "a", Name: "LSUB", Args: &ListArgs{Patterns: []string{"%"}, Subscribed: true}}, 0},
		{"status", "a STATUS INBOX (MESSAGES uidnext SIZE HIGHESTMODSEQ)\r\n",
			&Command{Tag: "a", Name: "STATUS", Args: &StatusArgs{"INBOX", []string{"MESSAGES", "UIDNEXT", "SIZE", "HIGHESTMODSEQ"}}}, 0},
		{"uid fetch", "a UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.1024>) (CHANGEDSINCE 12345 VANISHED)\r\n",
			&Command{Tag: "a", Name: "FETCH", UID: true, Args: &FetchArgs{
				Set: NumSet{Ranges: []NumRange{{1, 0}}},
				Items: []FetchItem{{Name: "FLAGS"}, {Name: "BODY", Peek: true,
					Section: &Section{Specifier: "HEADER.FIELDS", Fields: []string{"From", "Subject"}},
					Partial: &Partial{0, 1024}}},
				ChangedSince: 12345, Vanished: true,
			}}, 0},
		{"fetch macro", "a FETCH 2,4:6 FAST\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{
				Set:   NumSet{Ranges: []NumRange{{2, 2}, {4, 6}}},
				Items: []FetchItem{{Name: "FLAGS"}, {Name: "INTERNALDATE"}, {Name: "RFC822.SIZE"}},
			}}, 0},
		{"fetch sections", "a FETCH 1 (BODY[] BODY[1.2.MIME] BODY[3.TEXT] BINARY.PEEK[1]<5.10> BINARY.SIZE[2] BODYSTRUCTURE MODSEQ)\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{
				Set: NumSet{Ranges: []NumRange{{1, 1}}},
				Items: []FetchItem{
					{Name: "BODY", Section: &Section{}},
					{Name: "BODY", Section: &Section{Part: []int{1, 2}, Specifier: "MIME"}},
					{Name: "BODY", Section: &Section{Part: []int{3}, Specifier: "TEXT"}},
					{Name: "BINARY", Peek: true, Section: &Section{Part: []int{1}}, Partial: &Partial{5, 10}},
					{Name: "BINARY.SIZE", Section: &Section{Part: []int{2}}},
					{Name: "BODYSTRUCTURE"}, {Name: "MODSEQ"},
				},
			}}, 0},
		{"fetch saved result", "a FETCH $ UID\r\n",
			&Command{Tag: "a", Name: "FETCH", Args: &FetchArgs{Set: NumSet{SearchRes: true}, Items: []FetchItem{{Name: "UID"}}}}, 0},
		{"store unchangedsince", `a UID STORE 1:3 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\Deleted $Junk)` + "\r\n",
			&Command{Tag: "a", Name: "STORE", UID: true, Args: &StoreArgs{
				Set: NumSet{Ranges: []NumRange{{1, 3}}}, Op: '+', Silent: true,
				Flags: []string{`\Deleted`, "$Junk"}, UnchangedSince: 320162338, HasUnchanged: true,
			}}, 0},
		{"store flags without list", `a STORE 1 -FLAGS \Seen \Flagged` + "\r\n",
			&Command{Tag: "a", Name: "STORE", Args: &StoreArgs{
				Set: NumSet{Ranges: []NumRange{{1, 1}}}, Op: '-', Flags: []string{`\Seen`, `\Flagged`},
			}}, 0},
		{"move", "a UID MOVE 7:3 Trash\r\n",
			&Command{Tag: "a", Name: "MOVE", UID: true, Args: &CopyArgs{NumSet{Ranges: []NumRange{{7, 3}}}, "Trash"}}, 0},
		{"search", `a SEARCH RETURN (MIN COUNT) CHARSET UTF-8 UNSEEN OR FROM "Dr. Smith" SUBJECT {4}` + "\r\nlabo NOT (SINCE 1-Feb-2024 LARGER 100)\r\n",
			&Command{Tag: "a", Name: "SEARCH", Args: &SearchArgs{
				Charset: "UTF-8", Return: []string{"MIN", "COUNT"}, HasReturn: true,
				Key: &SearchKey{Op: "AND", Keys: []*SearchKey{
					{Op: "UNSEEN"},
					{Op: "OR", Keys: []*SearchKey{{Op: "FROM", Value: "Dr. Smith"}, {Op: "SUBJECT", Value: "labo"}}},
					{Op: "NOT", Keys: []*SearchKey{{Op: "AND", Keys: []*SearchKey{
						{Op: "SINCE", Date: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)},
						{Op: "LARGER", Num: 100},
					}}}},
				}},
			}}, 1},
		{"search with bare UTF-8", "a SEARCH CHARSET UTF-8 BODY h\xc3\xa9moglobine\r\n",
			&Command{Tag: "a", Name: "SEARCH", Args: &SearchArgs{Charset: "UTF-8",
				Key: &SearchKey{Op: "BODY", Value: "hémoglobine"}}}, 0},
		{"search seqset modseq header", `a UID SEARCH 1:5 MODSEQ "/flags/\\draft" all 620162338 HEADER X-Priority 1` + "\r\n",
			&Command{Tag: "a", Name: "SEARCH", UID: true, Args: &SearchArgs{Key: &SearchKey{Op: "AND", Keys: []*SearchKey{
				{Op: "SEQSET", Set: NumSet{Ranges: []NumRange{{1, 5}}}},
				{Op: "MODSEQ", Num: 620162338},
				{Op: "HEADER", Field: "X-Priority", Value: "1"},
			}}}}, 0},
		{"sort", "a UID SORT (REVERSE DATE SUBJECT) UTF-8 ALL\r\n",
			&Command{Tag: "a", Name: "SORT", UID: true, Args: &SearchArgs{
				Criteria: []SortCriterion{{"DATE", true}, {"SUBJECT", false}}, Charset: "UTF-8", Key: &SearchKey{Op: "ALL"},
			}}, 0},
		{"thread", "a THREAD REFERENCES US-ASCII SEEN\r\n",
			&Command{Tag: "a", Name: "THREAD", Args: &SearchArgs{Algorithm: "REFERENCES", Charset: "US-ASCII", Key: &SearchKey{Op: "SEEN"}}}, 0},
		{"uid expunge", "a UID EXPUNGE 3:5\r\n",
			&Command{Tag: "a", Name: "EXPUNGE", UID: true, Args: &ExpungeArgs{NumSet{Ranges: []NumRange{{3, 5}}}}}, 0},
		{"enable", "a ENABLE QRESYNC utf8=accept\r\n",
			&Command{Tag: "a", Name: "ENABLE", Args: &EnableArgs{[]string{"QRESYNC", "UTF8=ACCEPT"}}}, 0},
		{"id", `a ID ("name" "Thunderbird" "version" NIL)` + "\r\n",
			&Command{Tag: "a", Name: "ID", Args: &IDArgs{[][2]string{{"name", "Thunderbird"}, {"version", ""}}}}, 0},
		{"id nil", "a ID NIL\r\n", &Command{Tag: "a", Name: "ID", Args: &IDArgs{}}, 0},
		{"setacl", "a SETACL Shared/Cardiology bob +lrs\r\n",
			&Command{Tag: "a", Name: "SETACL", Args: &ACLArgs{"Shared/Cardiology", "bob", "+lrs"}}, 0},
		{"deleteacl", "a DELETEACL INBOX bob\r\n",
			&Command{Tag: "a", Name: "DELETEACL", Args: &ACLArgs{Mailbox: "INBOX", Identifier: "bob"}}, 0},
		{"myrights", "a MYRIGHTS INBOX\r\n",
			&Command{Tag: "a", Name: "MYRIGHTS", Args: &MailboxArgs{"INBOX"}}, 0},
		{"getquotaroot", "a GETQUOTAROOT INBOX\r\n",
			&Command{Tag: "a", Name: "GETQUOTAROOT", Args: &MailboxArgs{"INBOX"}}, 0},
		{"setquota", `a SETQUOTA "" (STORAGE 512)` + "\r\n",
			&Command{Tag: "a", Name: "SETQUOTA", Args: &QuotaArgs{"", map[string]int64{"STORAGE": 512}}}, 0},
		{"notify none", "a NOTIFY none\r\n", &Command{Tag: "a", Name: "NOTIFY", Args: &NotifyArgs{None: true}}, 0},
		{"notify set", `a NOTIFY SET STATUS (selected (MessageNew (UID BODY.PEEK[HEADER]) messageexpunge)) (subtree (Lists "Dr A") (MessageNew MessageExpunge FlagChange)) (mailboxes {4}` + "\r\nmisc NONE) (personal (MailboxName SubscriptionChange X-Other))\r\n",
			&Command{Tag: "a", Name: "NOTIFY", Args: &NotifyArgs{Status: true, Groups: []NotifyGroup{
				{Filter: "SELECTED", Events: []string{"MessageNew", "MessageExpunge"},
					Fetch: []FetchItem{{Name: "UID"}, {Name: "BODY", Peek: true, Section: &Section{Specifier: "HEADER"}}}},
				{Filter: "SUBTREE", Mailboxes: []string{"Lists", "Dr A"}, Events: []string{"MessageNew", "MessageExpunge", "FlagChange"}},
				{Filter: "MAILBOXES", Mailboxes: []string{"misc"}},
				{Filter: "PERSONAL", Events: []string{"MailboxName", "SubscriptionChange", "X-Other"}},
			}}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, conts := newTestParser(tt.input, DefaultLimits())
			got, err := p.ReadCommand()
			if err != nil {
				t.Fatalf("ReadCommand(%q): %v", tt.input, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ReadCommand(%q)\n got %#v\nwant %#v", tt.input, got.Args, tt.want.Args)
			}
			if *conts != tt.conts {
				t.Errorf("continuation requests = %d, want %d", *conts, tt.conts)
			}
			if _, err := p.ReadCommand(); err != io.EOF {
				t.Errorf("after the command: %v, want EOF", err)
			}
		})
	}
}

// TestParseErrors checks that a malformed command yields a BAD with the
// client's tag and that the next command is read as usual.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		tag     string
		status  string
		code    string
		msgPart string
	}{
		{"unknown command", "a1 FROB\r\n", "a1", "BAD", "", "unknown command"},
		{"no command", "a1\r\n", "a1", "BAD", "", "expected"},
		{"empty line", "\r\n", "", "BAD", "", "expected tag"},
		{"unknown uid command", "a UID LOGIN x y\r\n", "a", "BAD", "", "unknown command UID"},
		{"missing argument", "a SELECT\r\n", "a", "BAD", "", "expected"},
		{"trailing garbage", "a NOOP x\r\n", "a", "BAD", "", "unexpected"},
		{"unterminated quote", "a LOGIN \"abc\r\n", "a", "BAD", "", "unterminated"},
		{"bad number", "a FETCH 0 FLAGS\r\n", "a", "BAD", "", "zero"},
		{"number too large", "a FETCH 99999999999 FLAGS\r\n", "a", "BAD", "", "range"},
		{"unknown fetch item", "a FETCH 1 (FLAGS FOO)\r\n", "a", "BAD", "", "unknown FETCH item"},
		{"bad section", "a FETCH 1 BODY[FOO]\r\n", "a", "BAD", "", "unknown section"},
		{"mime without part", "a FETCH 1 BODY[MIME]\r\n", "a", "BAD", "", "unknown section"},
		{"vanished without uid", "a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n", "a", "BAD", "", "VANISHED"},
		{"unknown search key", "a SEARCH FROBNICATE\r\n", "a", "BAD", "", "unknown search key"},
		{"bare bytes not UTF-8", "a SEARCH BODY h\xe9moglobine\r\n", "a", "BAD", "", "UTF-8"},
		{"deep search", "a SEARCH " + strings.Repeat("NOT ", 100) + "ALL\r\n", "a", "BAD", "", "nested"},
		{"bad date", "a SEARCH SINCE 31-Foo-2020\r\n", "a", "BAD", "", "bad date"},
		{"literal too large", "a LOGIN {999999}\r\n", "a", "BAD", "TOOBIG", "literal too large"},
		{"literal not at end", "a LOGIN {3} x\r\n", "a", "BAD", "", "literal must end"},
		{"recursivematch alone", "a LIST (RECURSIVEMATCH) \"\" *\r\n", "a", "BAD", "", "RECURSIVEMATCH"},
		{"unknown status item", "a STATUS INBOX (FOO)\r\n", "a", "BAD", "", "unknown STATUS item"},
		{"append too big", "a APPEND INBOX {999999999}\r\n", "a", "NO", "TOOBIG", "too large"},
		{"bad base64", "a AUTHENTICATE PLAIN !!!\r\n", "a", "BAD", "", "expected"},
		{"too many id fields", "a ID (" + strings.Repeat(`"k" "v" `, 31) + ")\r\n", "a", "BAD", "", "too many"},
		{"line too long", "a NOOP " + strings.Repeat("x", 70000) + "\r\n", "a", "BAD", "", "line too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := newTestParser(tt.input+"b NOOP\r\n", DefaultLimits())
			_, err := p.ReadCommand()
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ReadCommand(%q) = %v, want a *ParseError", tt.input, err)
			}
			if pe.Tag != tt.tag || pe.Status != tt.status || pe.Code != tt.code || !strings.Contains(pe.Msg, tt.msgPart) {
				t.Errorf("error = %+v, want tag %q status %s code %q message containing %q", pe, tt.tag, tt.status, tt.code, tt.msgPart)
			}
			if pe.Fatal {
				return
			}
			next, err := p.ReadCommand()
			if err != nil || next.Tag != "b" || next.Name != "NOOP" {
				t.Errorf("next command = %+v, %v; want b NOOP", next, err)
			}
		})
	}
}

// TestParseSkipsNonSyncLiteral checks that after a BAD, the bytes of a
// LITERAL+ literal the client sends anyway are not read as commands.
func TestParseSkipsNonSyncLiteral(t *testing.T) {
	p, conts := newTestParser("a FROB {11+}\r\nb LOGOUT\r\n\r\nc NOOP\r\n", DefaultLimits())
	_, err := p.ReadCommand()
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Tag != "a" {
		t.Fatalf("first command: %v, want BAD for tag a", err)
	}
	next, err := p.ReadCommand()
	if err != nil || next.Tag != "c" {
		t.Fatalf("next command = %+v, %v; want tag c", next, err)
	}
	if *conts != 0 {
		t.Errorf("continuation requests = %d, want 0", *conts)
	}
}

func TestParseAppend(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		flags   []string
		date    time.Time
		msg     string
		binary  bool
		conts   int
		wantErr string
	}{
		{"plain", "a APPEND INBOX {5}\r\nhello\r\n", nil, time.Time{}, "hello", false, 1, ""},
		{"flags and date", "a APPEND Drafts (\\Draft \\Seen) \" 5-Mar-2024 10:11:12 +0100\" {5+}\r\nhello\r\n",
			[]string{`\Draft`, `\Seen`}, time.Date(2024, 3, 5, 10, 11, 12, 0, time.FixedZone("", 3600)), "hello", false, 0, ""},
		{"literal8", "a APPEND INBOX ~{3+}\r\na\x00b\r\n", nil, time.Time{}, "a\x00b", true, 0, ""},
		{"utf8", "a APPEND INBOX UTF8 (~{2+}\r\nhi)\r\n", nil, time.Time{}, "hi", true, 0, ""},
		{"garbage after message", "a APPEND INBOX {2+}\r\nhi x\r\n", nil, time.Time{}, "hi", false, 0, "expected '{'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, conts := newTestParser(tt.input+"b NOOP\r\n", DefaultLimits())
			cmd, err := p.ReadCommand()
			if err != nil {
				t.Fatalf("ReadCommand: %v", err)
			}
			a := cmd.Args.(*AppendArgs)
			m := a.First
			if a.Mailbox != "INBOX" && a.Mailbox != "Drafts" || !reflect.DeepEqual(m.Flags, tt.flags) || !m.Date.Equal(tt.date) {
				t.Errorf("args = %+v", a)
			}
			if *conts != 0 {
				t.Errorf("continuation sent before the door read the message")
			}
			if m.Message.Binary != tt.binary || m.Message.Size != int64(len(tt.msg)) {
				t.Errorf("literal = %+v", m.Message)
			}
			body, err := io.ReadAll(m.Message)
			if err == nil {
				// The end of the command is checked after the message.
				var more *AppendMessage
				if more, err = p.NextAppend(); err == nil && more != nil {
					t.Errorf("a second message after %q", tt.msg)
				}
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("reading message: %v, want error containing %q", err, tt.wantErr)
				}
			} else if err != nil || string(body) != tt.msg {
				t.Errorf("message = %q, %v; want %q", body, err, tt.msg)
			}
			if *conts != tt.conts {
				t.Errorf("continuation requests = %d, want %d", *conts, tt.conts)
			}
			next, err := p.ReadCommand()
			if err != nil || next.Tag != "b" {
				t.Errorf("next command = %+v, %v; want tag b", next, err)
			}
		})
	}
}

// TestParseAppendDiscard checks that an APPEND refused before its message
// was read leaves the connection in step: a synchronizing literal is never
// asked for, a non-synchronizing one is skipped.
func TestParseAppendDiscard(t *testing.T) {
	for _, input := range []string{
		"a APPEND Nope {5}\r\nb NOOP\r\n",
		"a APPEND Nope {5+}\r\nhello\r\nb NOOP\r\n",
	} {
		p, conts := newTestParser(input, DefaultLimits())
		if _, err := p.ReadCommand(); err != nil {
			t.Fatalf("%q: %v", input, err)
		}
		next, err := p.ReadCommand()
		if err != nil || next.Tag != "b" {
			t.Errorf("%q: next command = %+v, %v; want tag b", input, next, err)
		}
		if *conts != 0 {
			t.Errorf("%q: continuation requests = %d, want 0", input, *conts)
		}
	}
}

func TestParseCommandLimit(t *testing.T) {
	limits := DefaultLimits()
	limits.MaxCommand = 100
	p, _ := newTestParser("a LOGIN {60+}\r\n"+strings.Repeat("x", 60)+" {60+}\r\n"+strings.Repeat("y", 60)+"\r\nb NOOP\r\n", limits)
	_, err := p.ReadCommand()
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Code != "TOOBIG" {
		t.Fatalf("ReadCommand = %v, want TOOBIG", err)
	}
	if next, err := p.ReadCommand(); err != nil || next.Tag != "b" {
		t.Errorf("next command = %+v, %v; want tag b", next, err)
	}
}

func TestReadLine(t *testing.T) {
	p, _ := newTestParser("DONE\r\nAGFsaWNl\r\n", DefaultLimits())
	for _, want := range []string{"DONE", "AGFsaWNl"} {
		if got, err := p.ReadLine(); err != nil || got != want {
			t.Errorf("ReadLine = %q, %v; want %q", got, err, want)
		}
	}
}
