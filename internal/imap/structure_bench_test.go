package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"caduceus/internal/core"
	"caduceus/internal/core/coretest"
)

// BenchmarkFetchBodyStructure answers FETCH 1:1000 BODYSTRUCTURE in a
// folder of 1,000 multipart messages with a PDF attachment (about 150 KB
// each), side by side on the same data: "parsed" with the models
// forgotten, as for messages stored before models were (the door parses
// each message from its blob), then "stored" once the migration has
// computed them (the door reads the stored model).
func BenchmarkFetchBodyStructure(b *testing.B) {
	ctx := context.Background()
	ts := startServerWith(b, Options{})
	coretest.User(b, ts.svc, "alice", "Alice")
	rng := rand.NewChaCha8([32]byte{2})
	pdf := make([]byte, 110<<10)
	for i := range 1000 {
		rng.Read(pdf)
		msg := fmt.Sprintf("From: lab%d@remote.example\r\nTo: alice@%s\r\nSubject: =?utf-8?q?R=C3=A9sultats_{%d}?=\r\nMessage-ID: <r%d@remote.example>\r\n"+
			"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"+
			"--inner\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nCompte rendu joint.\r\n--inner\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Compte rendu joint.</p>\r\n--inner--\r\n"+
			"--outer\r\nContent-Type: application/pdf; name=\"cr-%d.pdf\"\r\nContent-Disposition: attachment; filename=\"cr-%d.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n--outer--\r\n",
			i, coretest.Domain, i, i, i, i, wrap76(base64.StdEncoding.EncodeToString(pdf)))
		if err := ts.svc.Deliver(ctx, core.System("smtp"), core.Delivery{Recipients: []string{"alice@" + coretest.Domain}, Data: []byte(msg)}); err != nil {
			b.Fatal(err)
		}
	}
	c := benchDial(b, ts.addr)
	c.cmd("SELECT INBOX")
	fetch := func(b *testing.B) {
		for b.Loop() {
			if n := c.cmd("FETCH 1:1000 BODYSTRUCTURE"); n != 1000 {
				b.Fatalf("%d responses", n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/fetch")
	}
	b.Run("parsed", func(b *testing.B) {
		if err := ts.svc.ResetModels(ctx, core.System("bench")); err != nil {
			b.Fatal(err)
		}
		before := ts.svc.ModelFallbacks()
		fetch(b)
		if ts.svc.ModelFallbacks() == before {
			b.Fatal("the models were not parsed")
		}
	})
	b.Run("stored", func(b *testing.B) {
		if _, err := ts.svc.MigrateModels(ctx, 200, nil); err != nil {
			b.Fatal(err)
		}
		before := ts.svc.ModelFallbacks()
		fetch(b)
		if ts.svc.ModelFallbacks() != before {
			b.Fatal("models were parsed")
		}
	})
}

func wrap76(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 76 {
		b.WriteString(s[i:min(i+76, len(s))])
		b.WriteString("\r\n")
	}
	return b.String()
}

// benchConn reads responses without parsing them, so that a benchmark
// measures the server.
type benchConn struct {
	tb  testing.TB
	nc  net.Conn
	br  *bufio.Reader
	tag int
}

func benchDial(tb testing.TB, addr string) *benchConn {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { nc.Close() })
	c := &benchConn{tb: tb, nc: nc, br: bufio.NewReader(nc)}
	c.br.ReadString('\n')
	c.cmd("STARTTLS")
	tc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true})
	if err := tc.Handshake(); err != nil {
		tb.Fatal(err)
	}
	c.nc, c.br = tc, bufio.NewReaderSize(tc, 64<<10)
	c.cmd(fmt.Sprintf("LOGIN alice@%s %q", coretest.Domain, coretest.Password))
	return c
}

// cmd runs a command that must succeed and counts its untagged responses.
func (c *benchConn) cmd(command string) int {
	c.tag++
	tag := fmt.Sprintf("b%d", c.tag)
	c.nc.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(c.nc, tag+" "+command+"\r\n"); err != nil {
		c.tb.Fatal(err)
	}
	n := 0
	for {
		l, err := c.br.ReadSlice('\n')
		if err != nil {
			c.tb.Fatalf("%s: %v", command, err)
		}
		s := strings.TrimSuffix(string(l), "\r\n")
		if size, ok := announced(s); ok {
			if _, err := c.br.Discard(size); err != nil {
				c.tb.Fatal(err)
			}
			continue // the line goes on after the literal
		}
		if rest, ok := strings.CutPrefix(s, tag+" "); ok {
			if !strings.HasPrefix(rest, "OK") {
				c.tb.Fatalf("%s: %s", command, rest)
			}
			return n
		}
		if strings.HasPrefix(s, "* ") {
			n++
		}
	}
}
