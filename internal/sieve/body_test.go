package sieve

import (
	"bytes"
	"context"
	"testing"

	"caduceus/internal/message"
)

const multipartMessage = "From: lab@lab.example\r\nTo: bob@hopital.example\r\nSubject: Results\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n" +
	"--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"R=E9sultats normaux.\r\n" +
	"--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Voir <b>pi&egrave;ce</b> jointe</p>\r\n" +
	"--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
	"JVBERi0xLjQgcmFwcG9ydA==\r\n" +
	"--b1--\r\n"

// TestBody checks the body test's transforms (RFC 5173 §5).
func TestBody(t *testing.T) {
	model, err := message.Parse(bytes.NewReader([]byte(multipartMessage)))
	if err != nil {
		t.Fatal(err)
	}
	msg := NewMailMessage([]byte(multipartMessage), model, "lab@lab.example", "bob@hopital.example")
	for _, tc := range []struct {
		rfc, test string
		want      bool
	}{
		{"5173 §5.3 :text default", `body :contains "Résultats normaux"`, true},
		{"5173 §5.3 :text", `body :text :contains "pièce jointe"`, true},
		{"5173 §5.1 :raw", `body :raw :contains "R=E9sultats"`, true},
		{"5173 §5.1 :raw", `body :raw :contains "Résultats"`, false},
		{"5173 §5.2 :content", `body :content "application/pdf" :contains "%PDF-1.4 rapport"`, true},
		{"5173 §5.2 :content type alone", `body :content "text" :contains "<b>pi&egrave;ce</b>"`, true},
		{"5173 §5.2 :content no match", `body :content "image" :contains ""`, false},
		{"5173 §5.2 :content all", `body :content "" :matches "*rapport*"`, true},
		{"5173 §5 :is", `body :content "text/plain" :is "Résultats normaux."`, true},
	} {
		s, err := Parse([]byte(`require ["body", "fileinto"]; if ` + tc.test + ` { fileinto "yes"; }`))
		if err != nil {
			t.Fatalf("RFC %s: %v", tc.rfc, err)
		}
		a, err := Run(context.Background(), s, msg)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(a.FileInto) == 1; got != tc.want {
			t.Errorf("RFC %s: %s = %v, want %v", tc.rfc, tc.test, got, tc.want)
		}
	}
	// A Message without a body: every body test is false.
	s, _ := Parse([]byte(`require ["body", "fileinto"]; if body :contains "" { fileinto "yes"; }`))
	if a, _ := Run(context.Background(), s, testMsg()); len(a.FileInto) != 0 {
		t.Error("body test true on a header-only message")
	}
}
