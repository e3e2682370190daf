package imap

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzParseCommand feeds arbitrary bytes to the parser: it must never
// panic, must always make progress, and must keep its limits. The seed
// corpus in testdata/fuzz/FuzzParseCommand runs with every go test.
func FuzzParseCommand(f *testing.F) {
	for _, seed := range []string{
		"a NOOP\r\n",
		"a LOGIN {5+}\r\nalice {3}\r\npwd\r\n",
		"a UID FETCH 1:*,$ (FLAGS BODY.PEEK[1.2.HEADER.FIELDS.NOT (To)]<0.10>) (CHANGEDSINCE 1 VANISHED)\r\n",
		"a APPEND INBOX (\\Seen) \"01-Jan-2024 00:00:00 +0000\" ~{3+}\r\nabc\r\n",
		"a SEARCH RETURN (ALL) CHARSET UTF-8 OR (NOT SEEN) HEADER X {1+}\r\ny\r\n",
		"a UID SORT RETURN (MIN MAX PARTIAL 9:1 COUNT) (REVERSE DATE) UTF-8 ALL\r\nb SEARCH RETURN (PARTIAL 1:*) ALL\r\n",
		"a SEARCH RETURN (UPDATE COUNT) SEEN\r\nb CANCELUPDATE \"a\" \"x\\\"y\"\r\nc CANCELUPDATE a\r\n",
		"a APPEND INBOX (\\Seen) {2+}\r\nhi (\\Flagged) {3+}\r\nbye\r\n",
		"a APPEND INBOX CATENATE (URL \"/INBOX/;uid=1/;section=HEADER\" TEXT {4+}\r\nbody)\r\n",
		"a APPEND INBOX CATENATE (TEXT {2+}\r\nhi URL /INBOX;UIDVALIDITY=9/;UID=1) {3+}\r\nbye\r\n",
		"a NOTIFY SET STATUS (selected-delayed (MessageNew (UID BODY.PEEK[HEADER.FIELDS (From)]) MessageExpunge)) (subtree (INBOX {2+}\r\nAB) (MessageNew MessageExpunge FlagChange)) (inboxes NONE)\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		limits := Limits{MaxLine: 256, MaxLiteral: 64, MaxCommand: 512, MaxMessage: 128}
		p := NewParser(bufio.NewReaderSize(strings.NewReader(string(data)), 64), limits, func() error { return nil })
		for i := 0; i <= len(data); i++ {
			cmd, err := p.ReadCommand()
			var pe *ParseError
			switch {
			case err == nil:
				if a, ok := cmd.Args.(*AppendArgs); ok {
					readAppend(t, p, a, limits)
				}
			case errors.As(err, &pe):
				if pe.Status != "BAD" && pe.Status != "NO" {
					t.Fatalf("status %q", pe.Status)
				}
				if pe.Fatal {
					return
				}
			default:
				return // the input ran out
			}
		}
		t.Fatalf("parser made no progress on %q", data)
	})
}

// readAppend reads every message of an APPEND, and every part of a
// CATENATE, as a door would, checking the limits hold.
func readAppend(t *testing.T, p *Parser, a *AppendArgs, limits Limits) {
	read := func(l *Literal) bool {
		if l.Size > limits.MaxMessage {
			t.Fatalf("APPEND literal of %d bytes accepted", l.Size)
		}
		_, err := io.Copy(io.Discard, l)
		return err == nil
	}
	for m := a.First; m != nil; {
		if m.Catenate {
			for {
				part, err := p.NextCatPart()
				if err != nil || part == nil {
					break
				}
				if part.Text != nil && !read(part.Text) {
					return
				}
			}
		} else if !read(m.Message) {
			return
		}
		var err error
		if m, err = p.NextAppend(); err != nil {
			return
		}
	}
}
