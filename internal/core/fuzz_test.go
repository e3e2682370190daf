package core

import (
	"testing"
	"time"
)

// FuzzModel feeds arbitrary bytes to the model taken of every message
// arriving from outside: it must never panic or loop.
func FuzzModel(f *testing.F) {
	for _, s := range []string{
		"Subject: =?utf-8?q?R=C3=A9sultats?=\r\nFrom: a@b.fr\r\n\r\nbody",
		"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Disposition: attachment; filename=\"cr.pdf\"\r\n\r\n%PDF\r\n--x--\r\n",
		"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n--a--\r\n",
		"Subject: =?iso-8859-1?q?compte_rendu_=E9t=E9?=\r\nReferences: <a@b> <c@d>\r\nIn-Reply-To: <c@d>\r\n\r\n",
		"no header at all",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		md := modelOf(data)
		if len(md.attachments) > maxAttachmentNames {
			t.Fatalf("%d attachment names", len(md.attachments))
		}
	})
}

// FuzzPrepareSubmission checks that the header rewriting of submitted mail
// never panics and, when it accepts a message, returns one with a Message-ID.
func FuzzPrepareSubmission(f *testing.F) {
	for _, s := range []string{
		"From: a@b.fr\r\nTo: c@d.fr\r\n\r\nhello",
		"From: \"Dr A\" <a@b.fr>, b@b.fr\r\nBcc: x@y.fr\r\n\r\n",
		"From: =?utf-8?q?Dr_=C3=89lise?= <e@b.fr>\r\n\r\n",
		"From: <>\r\n\r\n",
		"Subject: no from\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, from, err := prepareSubmission(data, "mx.test", time.Unix(0, 0), "", func() string { return "id" })
		if err != nil {
			return
		}
		if len(from) == 0 {
			t.Fatal("accepted without a From address")
		}
		if modelOf(out).Header.MessageID == "" {
			t.Fatalf("no Message-ID after preparation:\n%q", out)
		}
	})
}
