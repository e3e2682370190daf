package imap

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"caduceus/internal/core/coretest"
)

// rawClient speaks the protocol line by line, for what imapclient cannot
// send or does not show: LITERAL+, DELETEACL, LISTRIGHTS, THREAD, the
// exact responses of IMAP4rev2.
type rawClient struct {
	t   *testing.T
	nc  net.Conn
	br  *bufio.Reader
	tag int
}

// raw connects with STARTTLS and, when local is not empty, logs in as
// local@Domain.
func (ts *testServer) raw(t *testing.T, local string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
	t.Cleanup(func() { nc.Close() })
	r.line() // greeting
	r.ok("STARTTLS")
	tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	r.nc, r.br = tc, bufio.NewReader(tc)
	if local != "" {
		r.ok(fmt.Sprintf("LOGIN %s@%s %q", local, coretest.Domain, coretest.Password))
	}
	return r
}

// write sends s as it is.
func (r *rawClient) write(s string) {
	r.t.Helper()
	r.nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(r.nc, s); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// line reads one response line without its CRLF; a literal it announces
// is read into it, after the "{n}".
func (r *rawClient) line() string {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for {
		s, err := r.br.ReadString('\n')
		if err != nil {
			r.t.Fatalf("read: %v (after %q)", err, b.String()+s)
		}
		s = strings.TrimSuffix(s, "\r\n")
		b.WriteString(s)
		n, ok := announced(s)
		if !ok {
			return b.String()
		}
		lit := make([]byte, n)
		if _, err := io.ReadFull(r.br, lit); err != nil {
			r.t.Fatalf("read literal: %v", err)
		}
		b.Write(lit)
	}
}

// announced reports the size of a literal ending line s: "{n}" or "~{n}".
func announced(s string) (int, bool) {
	if !strings.HasSuffix(s, "}") {
		return 0, false
	}
	i := strings.LastIndexByte(s, '{')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(s[i+1 : len(s)-1])
	return n, err == nil
}

// cmd sends a command with a new tag and returns the untagged lines and
// the tagged status line without its tag ("OK ...", "NO ...").
func (r *rawClient) cmd(command string) (untagged []string, status string) {
	r.t.Helper()
	r.tag++
	tag := "t" + strconv.Itoa(r.tag)
	r.write(tag + " " + command + "\r\n")
	return r.until(tag)
}

// until reads up to the tagged response of tag.
func (r *rawClient) until(tag string) (untagged []string, status string) {
	r.t.Helper()
	for {
		l := r.line()
		if rest, ok := strings.CutPrefix(l, tag+" "); ok {
			return untagged, rest
		}
		untagged = append(untagged, l)
	}
}

// ok runs a command that must succeed and returns its untagged lines.
func (r *rawClient) ok(command string) []string {
	r.t.Helper()
	lines, status := r.cmd(command)
	if !strings.HasPrefix(status, "OK") {
		r.t.Fatalf("%s: %s (after %q)", command, status, lines)
	}
	return lines
}

// fails runs a command that must be answered with status (NO or BAD),
// and, when code is not empty, with that response code.
func (r *rawClient) fails(command, status, code string) {
	r.t.Helper()
	lines, got := r.cmd(command)
	if !strings.HasPrefix(got, status+" ") || code != "" && !strings.HasPrefix(got, status+" ["+code) {
		r.t.Fatalf("%s: got %q (after %q), want %s [%s]", command, got, lines, status, code)
	}
}

// withPrefix returns the lines that start with prefix.
func withPrefix(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// appendRaw APPENDs msg with a non-synchronizing literal and returns the
// tagged status.
func (r *rawClient) appendRaw(mailbox, msg string) string {
	r.t.Helper()
	r.tag++
	tag := fmt.Sprintf("t%d", r.tag)
	r.write(fmt.Sprintf("%s APPEND %s {%d+}\r\n%s\r\n", tag, mailbox, len(msg), msg))
	_, status := r.until(tag)
	if !strings.HasPrefix(status, "OK") {
		r.t.Fatalf("APPEND: %s", status)
	}
	return status
}
