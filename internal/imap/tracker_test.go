package imap

import (
	"bufio"
	"bytes"
	"reflect"
	"slices"
	"testing"

	"caduceus/internal/core"
)

// flushString runs Flush and returns what it wrote.
func flushString(t *testing.T, tr *Tracker, opts FlushOptions) string {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(bufio.NewWriter(&buf))
	tr.Flush(w, opts)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestTrackerLookups(t *testing.T) {
	tr := NewTracker([]uint32{3, 4, 5, 9, 10, 20})
	if tr.Len() != 6 || tr.MaxUID() != 20 {
		t.Fatalf("Len, MaxUID = %d, %d", tr.Len(), tr.MaxUID())
	}
	for seq, uid := range map[uint32]uint32{1: 3, 3: 5, 4: 9, 5: 10, 6: 20} {
		if got, ok := tr.UID(seq); !ok || got != uid {
			t.Errorf("UID(%d) = %d, %v; want %d", seq, got, ok, uid)
		}
		if got, ok := tr.Seq(uid); !ok || got != seq {
			t.Errorf("Seq(%d) = %d, %v; want %d", uid, got, ok, seq)
		}
	}
	for _, uid := range []uint32{1, 6, 11, 21} {
		if _, ok := tr.Seq(uid); ok {
			t.Errorf("Seq(%d) found", uid)
		}
	}
	if _, ok := tr.UID(7); ok {
		t.Errorf("UID(7) found")
	}
	var pairs [][2]uint32
	for seq, uid := range tr.UIDs(NumSet{Ranges: []NumRange{{5, 0}}}.Resolve(tr.MaxUID())) {
		pairs = append(pairs, [2]uint32{seq, uid})
	}
	if want := [][2]uint32{{3, 5}, {4, 9}, {5, 10}, {6, 20}}; !reflect.DeepEqual(pairs, want) {
		t.Errorf("UIDs(5:*) = %v, want %v", pairs, want)
	}
	pairs = nil
	for seq, uid := range tr.Seqs(NumSet{Ranges: []NumRange{{0, 5}}}.Resolve(tr.Len())) {
		pairs = append(pairs, [2]uint32{seq, uid})
	}
	if want := [][2]uint32{{5, 10}, {6, 20}}; !reflect.DeepEqual(pairs, want) {
		t.Errorf("Seqs(*:5) = %v, want %v", pairs, want)
	}
}

func TestTrackerFlush(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Tracker)
		opts   FlushOptions
		want   string
		after  []uint32
	}{
		{"expunge highest first", func(tr *Tracker) {
			tr.Expunged(2)
			tr.Expunged(4)
		}, FlushOptions{Expunge: true}, "* 4 EXPUNGE\r\n* 2 EXPUNGE\r\n", []uint32{1, 3, 5}},
		{"vanished", func(tr *Tracker) {
			tr.Expunged(2)
			tr.Expunged(3)
			tr.Expunged(5)
		}, FlushOptions{Expunge: true, Vanished: true}, "* VANISHED 2:3,5\r\n", []uint32{1, 4}},
		{"expunge held back during FETCH", func(tr *Tracker) {
			tr.Expunged(2)
			tr.Added(6)
		}, FlushOptions{}, "* 6 EXISTS\r\n", []uint32{1, 2, 3, 4, 5, 6}},
		{"arrivals", func(tr *Tracker) {
			tr.Added(7)
			tr.Added(8)
			tr.Added(8)
			tr.Added(3)
		}, FlushOptions{Expunge: true}, "* 7 EXISTS\r\n", []uint32{1, 2, 3, 4, 5, 7, 8}},
		{"arrival expunged before announced", func(tr *Tracker) {
			tr.Added(6)
			tr.Expunged(6)
		}, FlushOptions{Expunge: true}, "", []uint32{1, 2, 3, 4, 5}},
		{"flags with modseq, latest wins", func(tr *Tracker) {
			tr.FlagsChanged(3, FlagUpdate{[]string{`\Seen`}, 10})
			tr.FlagsChanged(3, FlagUpdate{[]string{`\Seen`, `\Flagged`}, 12})
			tr.FlagsChanged(3, FlagUpdate{[]string{}, 11})
		}, FlushOptions{Expunge: true, ModSeq: true}, "* 3 FETCH (UID 3 FLAGS (\\Seen \\Flagged) MODSEQ (12))\r\n", []uint32{1, 2, 3, 4, 5}},
		{"flags of an expunged message are dropped", func(tr *Tracker) {
			tr.FlagsChanged(2, FlagUpdate{[]string{`\Seen`}, 10})
			tr.Expunged(2)
			tr.FlagsChanged(4, FlagUpdate{[]string{`\Seen`}, 11})
		}, FlushOptions{Expunge: true}, "* 2 EXPUNGE\r\n* 3 FETCH (UID 4 FLAGS (\\Seen))\r\n", []uint32{1, 3, 4, 5}},
		{"all at once", func(tr *Tracker) {
			tr.Expunged(1)
			tr.Added(9)
			tr.FlagsChanged(5, FlagUpdate{[]string{`$Label1`}, 3})
		}, FlushOptions{Expunge: true}, "* 1 EXPUNGE\r\n* 5 EXISTS\r\n* 4 FETCH (UID 5 FLAGS ($Label1))\r\n", []uint32{2, 3, 4, 5, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker([]uint32{1, 2, 3, 4, 5})
			tt.change(tr)
			if got := flushString(t, tr, tt.opts); got != tt.want {
				t.Errorf("Flush wrote %q, want %q", got, tt.want)
			}
			if got := tr.All(); !slices.Equal(got, tt.after) {
				t.Errorf("view after = %v, want %v", got, tt.after)
			}
		})
	}
}

// TestTrackerHeldExpunge checks that an expunge held back during a FETCH
// is announced at the next allowed point, with the right number.
func TestTrackerHeldExpunge(t *testing.T) {
	tr := NewTracker([]uint32{10, 11, 12})
	tr.Expunged(11)
	if got := flushString(t, tr, FlushOptions{}); got != "" {
		t.Errorf("during FETCH: %q", got)
	}
	if seq, _ := tr.Seq(12); seq != 3 {
		t.Errorf("sequence number of 12 changed before the expunge was announced: %d", seq)
	}
	if got := flushString(t, tr, FlushOptions{Expunge: true}); got != "* 2 EXPUNGE\r\n" {
		t.Errorf("after FETCH: %q", got)
	}
	if seq, _ := tr.Seq(12); seq != 2 {
		t.Errorf("Seq(12) = %d, want 2", seq)
	}
	if tr.Pending() {
		t.Error("changes still pending")
	}
}

// TestTrackerRemoveMatchesModel checks the run representation against a
// plain slice over many removals.
func TestTrackerRemoveMatchesModel(t *testing.T) {
	var uids []uint32
	for u := uint32(1); u <= 300; u++ {
		if u%7 != 0 {
			uids = append(uids, u)
		}
	}
	tr := NewTracker(uids)
	model := slices.Clone(uids)
	for step := uint32(0); step < 40; step++ {
		gone := []uint32{(step*37)%300 + 1, (step*91)%300 + 1, (step*13)%300 + 1}
		seqs := tr.Remove(gone)
		var want []uint32
		for _, g := range slices.Backward(slices.Compact(slices.Sorted(slices.Values(gone)))) {
			if i, ok := slices.BinarySearch(model, g); ok {
				want = append(want, uint32(i+1))
				model = slices.Delete(model, i, i+1)
			}
		}
		if !slices.Equal(seqs, want) {
			t.Fatalf("step %d: Remove(%v) = %v, want %v", step, gone, seqs, want)
		}
		if !slices.Equal(tr.All(), model) {
			t.Fatalf("step %d: view %v, want %v", step, tr.All(), model)
		}
		for i, u := range model {
			if seq, ok := tr.Seq(u); !ok || seq != uint32(i+1) {
				t.Fatalf("step %d: Seq(%d) = %d, want %d", step, u, seq, i+1)
			}
		}
	}
}

func TestNumSet(t *testing.T) {
	tests := []struct {
		set  NumSet
		last uint32
		want []NumRange
		str  string
	}{
		{NumSet{Ranges: []NumRange{{1, 0}}}, 10, []NumRange{{1, 10}}, "1:*"},
		{NumSet{Ranges: []NumRange{{559, 0}}}, 10, []NumRange{{10, 559}}, "559:*"},
		{NumSet{Ranges: []NumRange{{7, 3}, {4, 9}, {20, 20}}}, 30, []NumRange{{3, 9}, {20, 20}}, "7:3,4:9,20"},
		{NumSet{Ranges: []NumRange{{0, 0}}}, 0, []NumRange{}, "*"},
	}
	for _, tt := range tests {
		if got := tt.set.Resolve(tt.last); !slices.Equal(got, tt.want) {
			t.Errorf("%s.Resolve(%d) = %v, want %v", tt.str, tt.last, got, tt.want)
		}
		if got := tt.set.String(); got != tt.str {
			t.Errorf("String = %q, want %q", got, tt.str)
		}
	}
	if got := NumSetOf([]uint32{5, 1, 2, 3, 9, 10}).String(); got != "1:3,5,9:10" {
		t.Errorf("NumSetOf = %q", got)
	}
	s := NumSet{Ranges: []NumRange{{2, 4}, {8, 0}}}
	for n, want := range map[uint32]bool{1: false, 2: true, 4: true, 5: false, 8: true, 12: true, 13: false} {
		if got := s.Contains(n, 12); got != want {
			t.Errorf("Contains(%d, 12) = %v, want %v", n, got, want)
		}
	}
}

func TestUIDRangesFollowTheClientsView(t *testing.T) {
	for _, c := range []struct {
		name string
		ts   []target
		want []core.UIDRange
	}{
		{"none", nil, nil},
		{"one", []target{{7, 30}}, []core.UIDRange{{Lo: 30, Hi: 30}}},
		// UIDs 4-8 and 11-19 were expunged: still one range.
		{"consecutive seqs over gaps", []target{{1, 3}, {2, 9}, {3, 10}, {4, 20}}, []core.UIDRange{{Lo: 3, Hi: 20}}},
		{"two runs", []target{{1, 3}, {2, 9}, {5, 40}, {6, 41}}, []core.UIDRange{{Lo: 3, Hi: 9}, {Lo: 40, Hi: 41}}},
		{"out of order and repeated", []target{{6, 41}, {1, 3}, {5, 40}, {1, 3}}, []core.UIDRange{{Lo: 3, Hi: 3}, {Lo: 40, Hi: 41}}},
	} {
		if got := uidRanges(c.ts); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: uidRanges = %v, want %v", c.name, got, c.want)
		}
	}
}
