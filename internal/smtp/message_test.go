package smtp

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func readAll(t *testing.T, m *Message) string {
	t.Helper()
	b, err := io.ReadAll(m.Reader())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReadMessageKeepsBytes(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"crlf", "From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n", ""},
		{"folded", "From: a@example.org\r\nSubject: a\r\n  folded\tline\r\n\r\nbody\r\n", ""},
		{"no body", "From: a@example.org\r\n", ""},
		{"no header", "\r\nbody only\r\n", ""},
		{"empty", "", ""},
		{"blank line in body", "From: a@example.org\r\n\r\n\r\n\r\nbody\r\n", ""},
		{"lf only", "From: a@example.org\nSubject: x\n\nbody\n", "From: a@example.org\r\nSubject: x\r\n\r\nbody\n"},
		{"long field", "X-Long: " + strings.Repeat("a", 5000) + "\r\n\r\nb", ""},
	}
	for _, tt := range tests {
		m, err := ReadMessage(strings.NewReader(tt.in), 1<<20)
		if err != nil {
			t.Errorf("%s: ReadMessage: %v", tt.name, err)
			continue
		}
		want := tt.want
		if want == "" {
			want = tt.in
			if !strings.Contains(tt.in, "\r\n\r\n") && !strings.HasPrefix(tt.in, "\r\n") {
				want = tt.in + "\r\n"
			}
		}
		if got := readAll(t, m); got != want {
			t.Errorf("%s: message reads back as %q, want %q", tt.name, got, want)
		}
	}
}

func TestReadMessageRejects(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		err      error
	}{
		{"too large", "X-A: " + strings.Repeat("a", 100) + "\r\n\r\n", 64, ErrHeaderTooLarge},
		{"too large without end", strings.Repeat("X-A: a\r\n", 100), 64, ErrHeaderTooLarge},
		{"not a header", "Hello there\r\n\r\nbody", 1024, nil},
		{"leading space", " X: a\r\n\r\n", 1024, nil},
	}
	for _, tt := range tests {
		_, err := ReadMessage(strings.NewReader(tt.in), tt.max)
		if err == nil {
			t.Errorf("%s: ReadMessage succeeded, want an error", tt.name)
			continue
		}
		if tt.err != nil && !errors.Is(err, tt.err) {
			t.Errorf("%s: ReadMessage: %v, want %v", tt.name, err, tt.err)
		}
	}
}

func TestAddTrace(t *testing.T) {
	in := "Return-Path: <forged@example.net>\r\nReceived: from earlier\r\nFrom: a@example.org\r\n\r\nbody"
	now := time.Date(2026, 3, 2, 10, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		trace Trace
		final bool
		want  string
	}{
		{
			name:  "mx final delivery",
			trace: Trace{Helo: "mx.example.net", RemoteIP: netip.MustParseAddr("192.0.2.7"), Hostname: "mx.example.org", ID: "T1", For: "b@example.org", Time: now},
			final: true,
			want: "Return-Path: <s@example.net>\r\n" +
				"Received: from mx.example.net ([192.0.2.7])\r\n\tby mx.example.org with ESMTP id T1\r\n" +
				"\tfor <b@example.org>;\r\n\tMon, 02 Mar 2026 10:04:05 +0000\r\n" +
				"Received: from earlier\r\nFrom: a@example.org\r\n\r\nbody",
		},
		{
			name: "submission relay",
			trace: Trace{Helo: "bad helo!", RemoteIP: netip.MustParseAddr("2001:db8::1"), Hostname: "smtp.example.org", Authenticated: true, UTF8: true,
				TLS: &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256}, Time: now},
			want: "Received: from [IPv6:2001:db8::1] ([IPv6:2001:db8::1])\r\n" +
				"\tby smtp.example.org with UTF8SMTPSA (TLS1.3 TLS_AES_128_GCM_SHA256);\r\n" +
				"\tMon, 02 Mar 2026 10:04:05 +0000\r\n" +
				"Return-Path: <forged@example.net>\r\nReceived: from earlier\r\nFrom: a@example.org\r\n\r\nbody",
		},
	}
	for _, tt := range tests {
		m, err := ReadMessage(strings.NewReader(in), 1024)
		if err != nil {
			t.Fatal(err)
		}
		m.AddTrace(tt.trace, tt.final, "s@example.net")
		if got := readAll(t, m); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

// FuzzReadMessage checks that a message read and written back keeps its
// header fields, with trace fields added on top.
func FuzzReadMessage(f *testing.F) {
	f.Add([]byte("From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n"))
	f.Add([]byte("From: a@example.org\nTo: b@example.org,\n c@example.org\n\n.\n"))
	f.Add([]byte("\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadMessage(bytes.NewReader(data), 4096)
		if err != nil {
			return
		}
		received := len(m.Header.Values("Received"))
		_ = m.MessageID()
		m.AddTrace(Trace{Helo: string(data), Hostname: "h.example", Time: time.Unix(0, 0)}, true, "a@b.example")
		out, err := io.ReadAll(m.Reader())
		if err != nil {
			t.Fatalf("Reader: %v", err)
		}
		back, err := ReadMessage(bytes.NewReader(out), len(out)+1)
		if err != nil {
			t.Fatalf("written message does not read back: %v\n%q", err, out)
		}
		if n := len(back.Header.Values("Received")); n != received+1 {
			t.Fatalf("read back %d Received fields, want %d", n, received+1)
		}
		if rp := back.Header.Values("Return-Path"); len(rp) != 1 || rp[0] != "<a@b.example>" {
			t.Fatalf("Return-Path fields = %q, want one <a@b.example>", rp)
		}
	})
}
