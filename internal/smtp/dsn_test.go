package smtp

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
)

const original = "From: dr.martin@test.mssante.fr\r\nTo: confrere@remote.example\r\n" +
	"Subject: Compte rendu\r\nMessage-Id: <orig-1@test.mssante.fr>\r\n\r\n" +
	"Diagnostic confidentiel du patient.\r\n"

func TestReportStructure(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name          string
		report        Report
		subject       string
		statusType    string
		headersType   string
		statusFields  []string
		missingFields []string
	}{
		{
			name: "failure",
			report: Report{
				Hostname: "mx.test.mssante.fr", To: "dr.martin@test.mssante.fr", EnvelopeID: "env-7",
				Arrival: now.Add(-time.Hour), Date: now, MessageID: "<orig-1@test.mssante.fr>",
				Recipients: []ReportRecipient{{
					Original: "Confrere@remote.example", Final: "confrere@remote.example", Action: ActionFailed,
					Status: [3]int{5, 1, 1}, RemoteMTA: "mx.remote.example", Diagnostic: "550 5.1.1 No such\r\nuser", LastAttempt: now,
				}},
				Header: []byte(original),
			},
			subject:     "Non remis / Undelivered mail",
			statusType:  "message/delivery-status",
			headersType: "text/rfc822-headers",
			statusFields: []string{
				"Reporting-MTA: dns; mx.test.mssante.fr", "Original-Envelope-Id: env-7",
				"Original-Recipient: rfc822; Confrere@remote.example", "Final-Recipient: rfc822; confrere@remote.example",
				"Action: failed", "Status: 5.1.1", "Remote-MTA: dns; mx.remote.example",
				"Diagnostic-Code: smtp; 550 5.1.1 No such user", "Last-Attempt-Date: Mon, 02 Mar 2026 10:00:00 +0000",
			},
			missingFields: []string{"Will-Retry-Until"},
		},
		{
			name: "delay with UTF-8",
			report: Report{
				Hostname: "mx.test.mssante.fr", To: "médecin@test.mssante.fr", Date: now, UTF8: true,
				Recipients: []ReportRecipient{{
					Final: "patient@hôpital.example", Action: ActionDelayed, Status: [3]int{4, 4, 1},
					LastAttempt: now, WillRetryUntil: now.Add(96 * time.Hour),
				}},
				Header: []byte(original),
			},
			subject:      "Remise retardée / Delayed mail",
			statusType:   "message/global-delivery-status",
			headersType:  "message/global-headers",
			statusFields: []string{"Final-Recipient: utf-8; patient@hôpital.example", "Action: delayed", "Status: 4.4.1", "Will-Retry-Until: Fri, 06 Mar 2026 10:00:00 +0000"},
			missingFields: []string{
				"Original-Envelope-Id", "Remote-MTA", "Diagnostic-Code", "Original-Recipient",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := tt.report.WriteTo(&buf); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if strings.Contains(out, "confidentiel") {
				t.Fatal("the report carries the original body")
			}
			e, err := message.Read(strings.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if got := e.Header.Get("Subject"); got != tt.subject {
				t.Errorf("Subject = %q, want %q", got, tt.subject)
			}
			if got := e.Header.Get("Auto-Submitted"); got != "auto-replied" {
				t.Errorf("Auto-Submitted = %q", got)
			}
			mt, params, _ := e.Header.ContentType()
			if mt != "multipart/report" || params["report-type"] != "delivery-status" {
				t.Errorf("Content-Type = %s %v", mt, params)
			}
			mr := e.MultipartReader()
			var types, bodies []string
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				pt, _, _ := p.Header.ContentType()
				b, _ := io.ReadAll(p.Body)
				types = append(types, pt)
				bodies = append(bodies, string(b))
			}
			if strings.Join(types, ",") != "text/plain,"+tt.statusType+","+tt.headersType {
				t.Fatalf("parts = %v", types)
			}
			if !strings.Contains(bodies[0], tt.report.Recipients[0].Final) || !strings.Contains(bodies[0], "Votre message") {
				t.Errorf("human part does not name the recipient in French:\n%s", bodies[0])
			}
			for _, f := range tt.statusFields {
				if !strings.Contains(bodies[1], f+"\r\n") {
					t.Errorf("status part lacks %q:\n%s", f, bodies[1])
				}
			}
			for _, f := range tt.missingFields {
				if strings.Contains(bodies[1], f) {
					t.Errorf("status part has %q:\n%s", f, bodies[1])
				}
			}
			if !strings.Contains(bodies[2], "Subject: Compte rendu\r\n") || strings.Contains(bodies[2], "Diagnostic") {
				t.Errorf("headers part = %q, want the original header section alone", bodies[2])
			}
		})
	}
}

func TestReportThreadsWithOriginal(t *testing.T) {
	for _, tt := range []struct{ id, want string }{
		{"<orig-1@test.mssante.fr>", "<orig-1@test.mssante.fr>"},
		{"<bad id\r\nX-Injected: 1>", ""},
	} {
		var buf bytes.Buffer
		r := Report{Hostname: "h.example", To: "a@h.example", Date: time.Now(), MessageID: tt.id,
			Recipients: []ReportRecipient{{Final: "b@x.example", Action: ActionFailed, Status: [3]int{5, 0, 0}}}}
		if _, err := r.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		e, err := message.Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Header.Get("In-Reply-To"); got != tt.want {
			t.Errorf("In-Reply-To = %q, want %q", got, tt.want)
		}
		if e.Header.Has("X-Injected") {
			t.Error("a Message-ID injected a header field")
		}
	}
}
