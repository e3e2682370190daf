package imap

import (
	"bufio"
	"strings"
	"testing"
	"time"
)

func TestBaseSubject(t *testing.T) {
	tests := []struct {
		in    string
		base  string
		reply bool
	}{
		{"Bilan sanguin", "bilan sanguin", false},
		{"Re: Bilan sanguin", "bilan sanguin", true},
		{"RE:  Bilan\t sanguin  ", "bilan sanguin", true},
		{"Fwd: Re: fw: Bilan", "bilan", true},
		{"RE: [PATCH] Fw: Re:  bilan   sanguin (fwd)", "bilan sanguin", true},
		{"Bilan (fwd) (FWD)", "bilan", true},
		{"Re [liste]: Bilan", "bilan", true},
		{"[liste] Re: Bilan", "bilan", true},
		{"[SPAM] Bilan", "bilan", false},
		{"[SPAM]", "[spam]", false},
		{"[fwd: Re: Bilan]", "bilan", true},
		{"Réunion: ordre du jour", "réunion: ordre du jour", false},
		{"Refus de soins", "refus de soins", false},
		{"Fwd: Résultats", "résultats", true},
		{"Re:", "", true},
		{"", "", false},
	}
	for _, tt := range tests {
		base, reply := baseSubject(tt.in)
		if base != tt.base || reply != tt.reply {
			t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", tt.in, base, reply, tt.base, tt.reply)
		}
	}
}

func TestMsgIDs(t *testing.T) {
	got := msgIDs(" <a@x> junk <b@y>\t<> <c@z")
	if strings.Join(got, ",") != "<a@x>,<b@y>" {
		t.Errorf("msgIDs = %q", got)
	}
}

// TestThreadReferences runs the REFERENCES algorithm (RFC 5256 §3) on
// small mailboxes, written one message a line: number, Message-ID,
// references (comma-separated, parent last), day of the month it was
// sent, subject.
func TestThreadReferences(t *testing.T) {
	tests := []struct {
		name string
		msgs string
		want string
	}{
		{"chain", `
1 <a> - 1 Bilan
2 <b> <a> 2 Re: Bilan
3 <c> <a>,<b> 3 Re: Bilan`, "(1 2 3)"},
		{"two replies", `
1 <a> - 1 Bilan
2 <b> <a> 2 Re: Bilan
3 <c> <a> 3 Re: Bilan`, "(1 (2)(3))"},
		{"replies ordered by date", `
1 <a> - 1 Bilan
2 <b> <a> 5 Re: Bilan
3 <c> <a> 3 Re: Bilan`, "(1 (3)(2))"},
		{"absent parent of two", `
1 <b> <x> 1 Un
2 <c> <x> 2 Deux`, "((1)(2))"},
		{"absent parent of one", `
1 <b> <x> 1 Un`, "(1)"},
		{"absent grand-parent promotes", `
1 <a> - 1 Un
2 <c> <a>,<x> 2 Deux`, "(1 2)"},
		{"threads by date", `
1 <a> - 9 Un
2 <b> - 2 Deux`, "(2)(1)"},
		{"same date keeps number order", `
1 <a> - 2 Un
2 <b> - 2 Deux`, "(1)(2)"},
		{"reply joins its subject", `
1 <a> - 1 Bilan
2 <b> - 2 Re: Bilan`, "(1 2)"},
		{"same subject, neither a reply", `
1 <a> - 1 Bilan
2 <b> - 2 Bilan`, "((1)(2))"},
		{"empty subjects stay apart", `
1 <a> - 1 -
2 <b> - 2 -`, "(1)(2)"},
		{"reference loop", `
1 <a> <b> 1 Un
2 <b> <a> 2 Deux`, "(2 1)"},
		{"duplicate Message-ID", `
1 <a> - 1 Un
2 <a> - 2 Deux
3 <c> <a> 3 Trois`, "(1 3)(2)"},
		{"no Message-ID", `
1 - - 1 Un
2 - - 2 Deux`, "(1)(2)"},
		{"nested", `
1 <a> - 1 Bilan
2 <b> <a> 2 Re: Bilan
3 <c> <a>,<b> 3 Re: Bilan
4 <d> <a>,<b> 4 Re: Bilan
5 <e> <a> 5 Re: Bilan`, "(1 (2 (3)(4))(5))"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var msgs []*threadMsg
			sc := bufio.NewScanner(strings.NewReader(strings.TrimSpace(tt.msgs)))
			for sc.Scan() {
				f := strings.SplitN(sc.Text(), " ", 5)
				var day int
				for _, c := range f[3] {
					day = 10*day + int(c-'0')
				}
				m := &threadMsg{date: time.Date(2026, 3, day, 10, 0, 0, 0, time.UTC)}
				for _, c := range f[0] {
					m.num = 10*m.num + uint32(c-'0')
				}
				if f[1] != "-" {
					m.id = f[1]
				}
				if f[2] != "-" {
					m.refs = strings.Split(f[2], ",")
				}
				if f[4] != "-" {
					m.base, m.reply = baseSubject(f[4])
				}
				msgs = append(msgs, m)
			}
			got := render(false, func(w *Writer) { writeThreads(w, threadReferences(msgs)) })
			if got != tt.want {
				t.Errorf("threads = %s, want %s", got, tt.want)
			}
		})
	}
}
