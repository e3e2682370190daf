package synth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"caduceus/internal/directory"
	"caduceus/internal/loadgen"
	"caduceus/internal/store/storetest"
)

// The benchmarks import synthetic files: CADUCEUS_BENCH_ROWS activity rows
// (default 50,000) written by Write, or the files already in
// CADUCEUS_BENCH_FILES. The figures in docs/performance-directory.md come from
//
//	caduceus directory synth --rows 2200000 --dir /tmp/bench   # or Write
//	CADUCEUS_BENCH_FILES=/tmp/bench go test -run XXX -bench . -benchtime 1x ./internal/directory/synth
//
// BenchmarkImport reports the import's peak resident memory (VmHWM, reset
// before the import) and its throughput; BenchmarkSearch the latency
// percentiles of a mix of name searches.

func benchFiles(b *testing.B) []string {
	if dir := os.Getenv("CADUCEUS_BENCH_FILES"); dir != "" {
		paths, err := filepath.Glob(filepath.Join(dir, "*"))
		if err != nil || len(paths) == 0 {
			b.Fatalf("no files in %s", dir)
		}
		return paths
	}
	rows := 50_000
	if s := os.Getenv("CADUCEUS_BENCH_ROWS"); s != "" {
		var err error
		if rows, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	paths, err := Write(context.Background(), b.TempDir(), rows, 42)
	if err != nil {
		b.Fatal(err)
	}
	return paths
}

// openDirectory opens an empty directory on a fresh store of the engine.
func openDirectory(b *testing.B, engine string) *directory.Directory {
	b.Helper()
	d, err := directory.Open(context.Background(), storetest.Open(b, engine), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	return d
}

func BenchmarkImport(b *testing.B) {
	paths := benchFiles(b)
	storetest.EachEngine(b, func(b *testing.B, engine string) {
		for range b.N {
			b.StopTimer()
			d := openDirectory(b, engine)
			resetPeakMemory()
			b.StartTimer()
			sum, err := d.Import(context.Background(), paths, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			b.ReportMetric(float64(sum.Rows)/sum.Duration.Seconds(), "rows/s")
			b.ReportMetric(sum.Duration.Seconds(), "s/import")
			b.ReportMetric(float64(peakMemory())/(1<<20), "peak-MiB")
			b.Logf("%s: %d rows, %d entries in %s; steps %v", engine, sum.Rows, sum.Entries,
				sum.Duration.Round(time.Millisecond), sum.Timings)
			d.Close()
		}
	})
}

// benchQueries is a mix of what people type: whole last names common and rare,
// first and last name, beginnings, typos, and names with a place or a
// profession.
func benchQueries() []directory.Query {
	var qs []directory.Query
	for i, n := range synthLastNames[:40] {
		w := directory.Fold(n)
		first := directory.Fold(synthFirstNames[i%2][i%len(synthFirstNames[i%2])])
		qs = append(qs,
			directory.Query{Text: w},
			directory.Query{Text: first + " " + w},
			directory.Query{Text: w[:min(len(w), 3+i%3)]},
			directory.Query{Text: misspell(w, i)},
			directory.Query{Text: w, City: synthCities[i%len(synthCities)].name},
			directory.Query{Text: w[:min(len(w), 4)], Profession: synthProfessions[i%len(synthProfessions)].code},
			directory.Query{Text: w, WithMailbox: true},
		)
	}
	s := synthSyllables
	for i := range 40 {
		tail := directory.Fold(s[0][i%len(s[0])] + s[1][i%len(s[1])] + s[2][i%len(s[2])])
		qs = append(qs, directory.Query{Text: tail}, directory.Query{Text: misspell(tail, i)})
	}
	return qs
}

// misspell changes one letter of w, or swaps two, or drops one, when w
// is long enough for the directory to forgive it.
func misspell(w string, i int) string {
	if len(w) < 4 {
		return w
	}
	k := 1 + i%(len(w)-2)
	switch i % 3 {
	case 0:
		return w[:k] + "x" + w[k+1:]
	case 1:
		return w[:k] + string(w[k+1]) + string(w[k]) + w[k+2:]
	}
	return w[:k] + w[k+1:]
}

func BenchmarkSearch(b *testing.B) {
	paths := benchFiles(b)
	queries := benchQueries()
	storetest.EachEngine(b, func(b *testing.B, engine string) {
		d := openDirectory(b, engine)
		defer d.Close()
		ctx := context.Background()
		if _, err := d.Import(ctx, paths, nil); err != nil {
			b.Fatal(err)
		}
		for _, q := range queries[:20] { // warm the caches
			d.Search(ctx, q)
		}
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			q := queries[i%len(queries)]
			t0 := time.Now()
			if _, err := d.Search(ctx, q); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		b.StopTimer()
		l := loadgen.Summarize(lat)
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b.ReportMetric(ms(l.P50), "p50-ms")
		b.ReportMetric(ms(l.P99), "p99-ms")
		b.ReportMetric(ms(l.Max), "max-ms")
	})
}

// resetPeakMemory resets the process's resident memory high-water mark
// (Linux: clear_refs 5), so that peakMemory measures what comes after.
func resetPeakMemory() {
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakMemory returns the process's peak resident memory in bytes, 0 when
// unknown.
func peakMemory() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb << 10
		}
	}
	return 0
}
