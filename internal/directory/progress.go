package directory

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressReport shows how far an import is: a bar over the bytes read when w is
// a terminal, a line every few seconds otherwise, then one line per build phase.
type progressReport struct {
	read  atomic.Int64 // bytes read so far, advanced by the reader
	total int64
	w     io.Writer
	bar   *progressbar.ProgressBar // nil when w is not a terminal
	start time.Time

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// plainEvery is how often progress is printed when it is not a terminal.
const plainEvery = 5 * time.Second

func newProgress(w io.Writer, srcs []source) *progressReport {
	if w == nil {
		w = io.Discard
	}
	p := &progressReport{w: w, start: time.Now(), stop: make(chan struct{})}
	for _, s := range srcs {
		p.total += s.size
	}
	every := plainEvery
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.bar = progressbar.NewOptions64(p.total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("reading"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish())
		every = 200 * time.Millisecond
	}
	if w == io.Discard {
		return p
	}
	p.wg.Add(1)
	go p.run(every)
	return p
}

func (p *progressReport) run(every time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			n := p.read.Load()
			if p.bar != nil {
				p.bar.Set64(n)
				continue
			}
			pct := 0.0
			if p.total > 0 {
				pct = 100 * float64(n) / float64(p.total)
			}
			fmt.Fprintf(p.w, "directory import: read %s of %s (%.0f%%) in %s\n",
				byteCount(n), byteCount(p.total), pct, time.Since(p.start).Round(time.Second))
		}
	}
}

// phase ends the reading display, if still shown, and announces a build phase.
func (p *progressReport) phase(name string) {
	p.endReading()
	fmt.Fprintf(p.w, "directory import: %s (%s)\n", name, time.Since(p.start).Round(time.Second))
}

func (p *progressReport) endReading() {
	p.stopOnce.Do(func() {
		close(p.stop)
		p.wg.Wait()
		if p.bar != nil {
			p.bar.Finish()
		}
	})
}

func (p *progressReport) done() { p.endReading() }

// byteCount writes n bytes in a unit a person reads at a glance.
func byteCount(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
