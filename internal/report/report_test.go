package report

import (
	"strings"
	"testing"
	"time"
)

const original = "From: alice@a.mssante.fr\r\nTo: bob@b.mssante.fr\r\nSubject: Compte rendu\r\nMessage-ID: <orig-1@a.mssante.fr>\r\nDisposition-Notification-To: alice@a.mssante.fr\r\n\r\nCorps.\r\n"

const dsn = "From: MAILER-DAEMON@mx.b.mssante.fr\r\nTo: alice@a.mssante.fr\r\nSubject: Delivery Status Notification\r\nMIME-Version: 1.0\r\n" +
	"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n" +
	"--b1\r\nContent-Type: text/plain\r\n\r\nDelivered.\r\n" +
	"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.b.mssante.fr\r\nArrival-Date: Thu, 3 Dec 2026 08:00:00 +0000\r\n\r\n" +
	"Original-Recipient: rfc822;Bob@b.mssante.fr\r\nFinal-Recipient: rfc822; bob@b.mssante.fr\r\nAction: delivered\r\nStatus: 2.0.0\r\n\r\n" +
	"Final-Recipient: rfc822; carol@b.mssante.fr\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1\r\n  no such user\r\n\r\n" +
	"--b1\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: alice@a.mssante.fr\r\nMessage-ID: <orig-1@a.mssante.fr>\r\n\r\n" +
	"--b1--\r\n"

func TestMDNRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		disposition string
		automatic   bool
		size        int
	}{{"displayed", false, 0}, {"deleted", true, 0}, {"displayed", false, 2 << 20}} {
		orig := original + strings.Repeat("x", tc.size)
		m := MDN{From: "bob@b.mssante.fr", To: "alice@a.mssante.fr", ReportingUA: "mx.b.mssante.fr",
			FinalRecipient: "bob@b.mssante.fr", OriginalMessageID: "<orig-1@a.mssante.fr>", Subject: "Compte rendu",
			Disposition: tc.disposition, Automatic: tc.automatic, Original: []byte(orig), Date: time.Now(), MessageID: "<mdn-1@b.mssante.fr>",
			Extra: "X-MSS-NIL: TEST\r\n"}
		raw := m.Bytes()
		for _, want := range []string{"report-type=disposition-notification", "Final-Recipient: rfc822;bob@b.mssante.fr", "Original-Message-ID: <orig-1@a.mssante.fr>", "X-MSS-NIL: TEST"} {
			if !strings.Contains(string(raw), want) {
				t.Errorf("MDN lacks %q:\n%s", want, raw)
			}
		}
		if (tc.size > 0) != strings.Contains(string(raw), "text/rfc822-headers") || (tc.size > 0) == strings.Contains(string(raw), "Corps.") {
			t.Errorf("size %d: original returned wrongly", tc.size)
		}
		rep, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Kind != Disposition || rep.MessageID != "<orig-1@a.mssante.fr>" || len(rep.Recipients) != 1 {
			t.Fatalf("parsed %+v", rep)
		}
		r := rep.Recipients[0]
		if r.Final != "bob@b.mssante.fr" || r.Disposition != tc.disposition || r.Automatic != tc.automatic {
			t.Fatalf("recipient %+v", r)
		}
	}
}

func TestParseDSN(t *testing.T) {
	rep, err := Parse([]byte(dsn))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Kind != Delivery || rep.MessageID != "<orig-1@a.mssante.fr>" || len(rep.Recipients) != 2 {
		t.Fatalf("parsed %+v", rep)
	}
	if r := rep.Recipients[0]; r.Final != "bob@b.mssante.fr" || r.Original != "bob@b.mssante.fr" || r.Action != "delivered" || r.Status != "2.0.0" {
		t.Errorf("first recipient %+v", r)
	}
	if r := rep.Recipients[1]; r.Final != "carol@b.mssante.fr" || r.Action != "failed" {
		t.Errorf("second recipient %+v", r)
	}
}

func TestParseRefuses(t *testing.T) {
	for name, raw := range map[string]string{
		"plain message":     original,
		"other report":      "Content-Type: multipart/report; report-type=x; boundary=b\r\n\r\n--b\r\n\r\n--b--\r\n",
		"no boundary":       "Content-Type: multipart/report; report-type=delivery-status\r\n\r\n",
		"MDN without id":    "Content-Type: multipart/report; report-type=disposition-notification; boundary=b\r\n\r\n--b\r\nContent-Type: message/disposition-notification\r\n\r\nFinal-Recipient: rfc822;x@y\r\nDisposition: manual-action/MDN-sent-manually; displayed\r\n\r\n--b--\r\n",
		"DSN without group": "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n--b--\r\n",
		"garbage":           "\x00\xff",
	} {
		if rep, err := Parse([]byte(raw)); err == nil {
			t.Errorf("%s: parsed %+v", name, rep)
		}
	}
}

func TestRequested(t *testing.T) {
	for _, tc := range []struct {
		header     string
		to         string
		returnPath bool
	}{
		{"Return-Path: <alice@a.mssante.fr>\r\n" + original, "alice@a.mssante.fr", true},
		{"Return-Path: <bounces@a.mssante.fr>\r\n" + original, "alice@a.mssante.fr", false},
		{original, "alice@a.mssante.fr", false},
		{"Subject: x\r\n\r\n", "", false},
	} {
		to, rp := Requested([]byte(tc.header))
		if to != tc.to || rp != tc.returnPath {
			t.Errorf("Requested = %q %v, want %q %v", to, rp, tc.to, tc.returnPath)
		}
	}
}

// FuzzParse: a report from outside never makes Parse panic, and what it
// accepts names a message and a recipient.
func FuzzParse(f *testing.F) {
	f.Add([]byte(dsn))
	f.Add(MDN{From: "b@b", To: "a@a", FinalRecipient: "b@b", OriginalMessageID: "<x@a>", Disposition: "displayed", Original: []byte(original), Date: time.Now(), MessageID: "<m@b>"}.Bytes())
	f.Add([]byte(original))
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Parse(data)
		if err == nil && (rep.MessageID == "" || len(rep.Recipients) == 0) {
			t.Fatalf("accepted a report without message or recipient: %+v", rep)
		}
		Requested(data)
	})
}
