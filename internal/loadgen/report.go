package loadgen

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// Report writes the figures of an IMAP run for a person, as `caduceus
// bench imap` prints them: totals, then one line per command of the mix
// in alphabetical order, then the idle connections when there were any.
func (r IMAPResult) Report(w io.Writer) error {
	p := &printer{w: w}
	p.printf("operations  %d in %v (%d sessions, %d durable writes)\nthroughput  %.0f ops/s\nlatency     p50 %v  p99 %v\nerrors      %d\n",
		r.Ops, r.Elapsed.Round(time.Millisecond), r.Logins, r.Writes, r.OpsPerSec,
		r.Latency.P50.Round(time.Microsecond), r.Latency.P99.Round(time.Microsecond), r.Errors)
	names := make([]string, 0, len(r.PerOp))
	for name := range r.PerOp {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		l := r.PerOp[name]
		p.printf("  %-10s %7d  p50 %v  p99 %v\n", name, l.Count, l.P50.Round(time.Microsecond), l.P99.Round(time.Microsecond))
	}
	if r.Idle != nil {
		p.printf("idle        %d connections opened in %v; server heap %.1f KiB and RSS %.1f KiB per connection\n",
			r.Idle.Conns, r.Idle.Opened.Round(time.Millisecond), r.Idle.HeapPerConn/1024, r.Idle.RSSPerConn/1024)
	}
	return p.err
}

// Report writes the figures of an SMTP run on one line, as `caduceus
// bench smtp` prints them.
func (r SMTPResult) Report(w io.Writer) error {
	p := &printer{w: w}
	p.printf("%d sent, %d failed in %v: %.0f messages/s, latency p50 %v p99 %v max %v\n",
		r.Sent, r.Failed, r.Elapsed.Round(time.Millisecond), r.PerSecond,
		r.Latency.P50.Round(10*time.Microsecond), r.Latency.P99.Round(10*time.Microsecond), r.Latency.Max.Round(10*time.Microsecond))
	return p.err
}

// printer keeps the first write error, so that a report prints unchecked.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}
