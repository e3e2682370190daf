package directory

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"golang.org/x/text/encoding/charmap"

	"caduceus/internal/store/storetest"
)

func TestImportSummary(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		d := openDirectory(t, engine)
		sum, err := d.Import(context.Background(), fixtureFiles(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		// Nine entries: Lefèvre through her mailbox (her activity row folds
		// into it), the organisational mailbox, D'Almeida at two places, and
		// five others.
		want := Summary{Generation: 1, Rows: 12, Entries: 9, Added: 9, Folded: 1, Skills: 2}
		got := sum
		got.Files, got.Rejections, got.Timings, got.Duration = nil, nil, nil, 0
		if !equalSummary(got, want) {
			t.Errorf("summary %+v, want %+v", got, want)
		}
		for _, f := range sum.Files {
			if f.Encoding != "UTF-8" || f.Rejected != 0 || f.Kind == "" {
				t.Errorf("file %+v", f)
			}
		}
	})
}

func equalSummary(a, b Summary) bool {
	return a.Generation == b.Generation && a.Rows == b.Rows && a.Entries == b.Entries &&
		a.Added == b.Added && a.Updated == b.Updated && a.Unchanged == b.Unchanged &&
		a.Removed == b.Removed && a.Folded == b.Folded && a.Skills == b.Skills && a.Rejected == b.Rejected
}

// TestReimport imports changed data over the test data: what vanished is
// removed, what changed is updated, and the same files again change nothing.
func TestReimport(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		d := imported(t, engine)
		rows := activityRows()
		rows[3]["Libellé commune (coord. structure)"] = "BREST CEDEX" // Le Gall: updated
		rows = slices.Delete(rows, 6, 7)                              // Martim: removed
		rows = append(rows, practitioner(8, "NGUYEN", "Thi", "40", "", "R9", "", "31000", "TOULOUSE"))
		dir := t.TempDir()
		files := []string{
			writeFile(t, dir, "PS_LibreAcces_Personne_activite.txt", extractionText(activityColumns, rows...)),
			writeFile(t, dir, "PS_LibreAcces_SavoirFaire.txt", extractionText(skillColumnNames, skillRows()...)),
			writeFile(t, dir, "Extraction_Correspondance_MSSante.txt", extractionText(mailboxColumns, mailboxRows()...)),
		}
		sum, err := d.Import(ctx, files, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Generation != 2 || sum.Added != 1 || sum.Updated != 1 || sum.Removed != 1 || sum.Unchanged != 7 {
			t.Errorf("summary %+v", sum)
		}
		for q, want := range map[string]int{"martim anne": 0, "nguyen": 1} {
			res, err := d.Search(ctx, Query{Text: q})
			if err != nil || res.Total != want {
				t.Errorf("search %q: %d entries, %v; want %d", q, res.Total, err, want)
			}
		}
		sum, err = d.Import(ctx, files, nil)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Generation != 3 || sum.Added != 0 || sum.Updated != 0 || sum.Removed != 0 || sum.Unchanged != 9 {
			t.Errorf("same files again: %+v", sum)
		}
		gens, err := d.generations(ctx)
		if err != nil || !slices.Equal(sorted(gens), []int64{2, 3}) {
			t.Errorf("generations kept: %v, %v; want the current and the previous", gens, err)
		}
	})
}

func sorted(s []int64) []int64 {
	slices.Sort(s)
	return s
}

// TestImportSwitchesAtomically searches during an import: until the new data
// is complete, searches answer from the old.
func TestImportSwitchesAtomically(t *testing.T) {
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		d := imported(t, engine)
		dir := t.TempDir()
		files := []string{writeFile(t, dir, "a.txt", extractionText(activityColumns,
			practitioner(9, "ZOLA", "Émile", "10", "", "R1", "", "75001", "PARIS")))}
		var during []int
		progress := writerFunc(func(p []byte) {
			if !strings.Contains(string(p), "finishing") {
				return
			}
			for _, q := range []string{"martin", "zola"} {
				res, err := d.Search(ctx, Query{Text: q})
				if err != nil {
					t.Error(err)
				}
				during = append(during, res.Total)
			}
		})
		if _, err := d.Import(ctx, files, progress); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(during, []int{3, 0}) {
			t.Errorf("during the import, martin and zola gave %v entries, want the old data [3 0]", during)
		}
		res, err := d.Search(ctx, Query{Text: "zola"})
		if err != nil || res.Total != 1 {
			t.Errorf("after the import: %+v, %v", res, err)
		}
	})
}

type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) {
	f(p)
	return len(p), nil
}

// TestImportBrokenFiles imports damaged files over the test data: each gets a
// clear message, and nothing already imported is lost.
func TestImportBrokenFiles(t *testing.T) {
	good := extractionText(mailboxColumns, mailboxRows()...)
	longLine := "PER|" + strings.Repeat("x", 10<<20) + "|\n"
	latin1, err := charmap.Windows1252.NewEncoder().String(extractionText(activityColumns,
		practitioner(10, "BÉRANGER", "Maëlle", "10", "", "R1", "", "75001", "PARIS")))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content string
		err     string   // the import fails with this message, or
		rejects []string // succeeds rejecting these lines
		check   func(t *testing.T, d *Directory, sum Summary)
	}{
		{name: "empty file", content: "", err: "empty file"},
		{name: "header only", content: strings.Join(mailboxColumns, "|") + "|\n", err: "no data lines"},
		{name: "UTF-16", content: utf16le(good), err: "UTF-16"},
		{name: "wrong separator", content: strings.ReplaceAll(good, "|", ";"), err: "header names none of the columns"},
		{name: "missing column", content: extractionText(slices.DeleteFunc(slices.Clone(activityColumns),
			func(c string) bool { return c == "Nom d'exercice" }), activityRows()...),
			err: `header lacks column "Nom d'exercice"`},
		{name: "binary", content: "PK\x00\x01garbage\x00\x00", err: "NUL bytes"},
		{name: "mostly broken", content: strings.Join(mailboxColumns, "|") + "|\n" + strings.Repeat("PER|x|\n", 200),
			err: "200 of 200 lines rejected"},
		{
			name:    "short and long lines",
			content: good + "PER|short@example.org|\n" + dataLine(mailbox("PER", "long@example.org", 0, "LONG", "Line", "", "", "", "", "")) + "extra|\n",
			rejects: []string{"line 4: 2 fields where the header has 31 (short line)", "line 5: 32 fields where the header has 31 (long line)"},
		},
		{
			name:    "duplicate key",
			content: good + strings.SplitAfter(good, "\n")[1],
			rejects: []string{"line 4: mailbox address already on line 2; the first is kept"},
		},
		{
			name:    "10 MB line",
			content: good + longLine + dataLine(mailbox("PER", "after@example.org", 0, "APRES", "Line", "10", "", "", "75001", "PARIS")) + "\n",
			rejects: []string{"line 4: line longer than 64 KiB"},
			check: func(t *testing.T, d *Directory, sum Summary) {
				res, err := d.Search(context.Background(), Query{Text: "apres"})
				if err != nil || res.Total != 1 {
					t.Errorf("the line after the long one: %+v, %v", res, err)
				}
			},
		},
		{
			name:    "bad values",
			content: good + "XYZ|a@b.fr|\n" + "PER|not-an-address" + strings.Repeat("|", 30) + "\n",
			rejects: []string{"line 4: 2 fields where the header has 31 (short line)", "line 5: mailbox address (Adresse BAL) is not an e-mail address"},
		},
		{
			name:    "Latin-1",
			content: latin1,
			check: func(t *testing.T, d *Directory, sum Summary) {
				if sum.Files[2].Encoding != "Latin-1" {
					t.Errorf("encoding %q, want Latin-1", sum.Files[2].Encoding)
				}
				res, err := d.Search(context.Background(), Query{Text: "maelle beranger"})
				if err != nil || len(res.Entries) != 1 || res.Entries[0].FirstName != "Maëlle" {
					t.Errorf("Latin-1 accents: %+v, %v", res, err)
				}
			},
		},
	}
	storetest.EachEngine(t, func(t *testing.T, engine string) {
		d := imported(t, engine)
		ctx := context.Background()
		before, err := d.Search(ctx, Query{Text: "mar"})
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				path := writeFile(t, t.TempDir(), "Extraction_Correspondance_MSSante.txt", tt.content)
				gen, _ := d.Generation(ctx)
				files := append(fixtureFiles(t)[:2], path)
				sum, err := d.Import(ctx, files, nil)
				if tt.err != "" {
					if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "nothing was changed") {
						t.Fatalf("error %v, want one saying %q and that nothing was changed", err, tt.err)
					}
					if now, _ := d.Generation(ctx); now != gen {
						t.Errorf("generation went from %d to %d", gen, now)
					}
					after, err := d.Search(ctx, Query{Text: "mar"})
					if err != nil || !slices.Equal(names(after.Entries), names(before.Entries)) {
						t.Errorf("after the failed import, %q, %v; before %q", names(after.Entries), err, names(before.Entries))
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, r := range sum.Rejections {
					got = append(got, strings.TrimPrefix(r.String(), filepath.Base(path)+" "))
				}
				if !slices.Equal(got, tt.rejects) || sum.Rejected != len(tt.rejects) {
					t.Errorf("rejections %q (%d), want %q", got, sum.Rejected, tt.rejects)
				}
				if tt.check != nil {
					tt.check(t, d, sum)
				}
			})
		}
	})
}

// dataLine returns a mailbox row as a line, without its line end.
func dataLine(r row) string {
	return strings.TrimSuffix(strings.SplitAfterN(extractionText(mailboxColumns, r), "\n", 2)[1], "\n")
}

func utf16le(s string) string {
	var b bytes.Buffer
	b.Write([]byte{0xff, 0xfe})
	for _, u := range utf16.Encode([]rune(s)) {
		b.WriteByte(byte(u))
		b.WriteByte(byte(u >> 8))
	}
	return b.String()
}

// TestImportZip reads the files as published, inside their zips.
func TestImportZip(t *testing.T) {
	d := openDirectory(t, "sqlite")
	dir := t.TempDir()
	var paths []string
	for i, group := range [][]string{fixtureFiles(t)[:2], fixtureFiles(t)[2:]} {
		p := filepath.Join(dir, []string{"PS_LibreAcces_202601010000.zip", "Extraction_Correspondance_MSSante.zip"}[i])
		writeZip(t, p, group)
		paths = append(paths, p)
	}
	sum, err := d.Import(context.Background(), paths, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The MSSanté file is read first, whatever the order given.
	if sum.Entries != 9 || len(sum.Files) != 3 || !strings.HasPrefix(sum.Files[1].Name, "PS_LibreAcces_202601010000.zip:") {
		t.Errorf("summary %+v", sum)
	}
}

func writeZip(t *testing.T, path string, files []string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, name := range files {
		w, err := zw.Create(filepath.Base(name))
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestImportRunsAlone(t *testing.T) {
	d := openDirectory(t, "sqlite")
	unlock, err := d.lockImport(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := d.Import(context.Background(), fixtureFiles(t), nil); err != ErrImportRunning {
		t.Errorf("second import: %v, want ErrImportRunning", err)
	}
}
