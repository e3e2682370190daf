package directory

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
)

// source is one extraction file to read: a text file, or a member of a zip.
type source struct {
	name string // as shown in messages: "x.txt", or "x.zip:y.txt"
	size int64  // uncompressed, for progress
	open func() (io.ReadCloser, error)
}

// openSources lists the extraction files behind paths, looking inside zips. The
// returned function closes the zips.
func openSources(paths []string) ([]source, func(), error) {
	var srcs []source
	var zips []*zip.ReadCloser
	closeAll := func() {
		for _, z := range zips {
			z.Close()
		}
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		if fi.IsDir() {
			closeAll()
			return nil, nil, fmt.Errorf("%s is a directory", p)
		}
		if !isZip(p) {
			srcs = append(srcs, source{
				name: filepath.Base(p),
				size: fi.Size(),
				open: func() (io.ReadCloser, error) { return os.Open(p) },
			})
			continue
		}
		z, err := zip.OpenReader(p)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("%s: %w", filepath.Base(p), err)
		}
		zips = append(zips, z)
		n := 0
		for _, f := range z.File {
			ext := strings.ToLower(path.Ext(f.Name))
			if f.FileInfo().IsDir() || ext != ".txt" && ext != ".csv" {
				continue
			}
			srcs = append(srcs, source{
				name: filepath.Base(p) + ":" + path.Base(f.Name),
				size: int64(f.UncompressedSize64),
				open: f.Open,
			})
			n++
		}
		if n == 0 {
			closeAll()
			return nil, nil, fmt.Errorf("%s: no .txt file inside", filepath.Base(p))
		}
	}
	return srcs, closeAll, nil
}

// mailboxesFirst orders the sources so that the MSSanté files are read before
// the others, as the importer needs (see batcher). A file whose header cannot
// be read keeps its place; reading it fails later with a clear message.
func mailboxesFirst(srcs []source) []source {
	isMailbox := func(src source) bool {
		rc, err := src.open()
		if err != nil {
			return false
		}
		defer rc.Close()
		line, err := newLineReader(rc).next()
		if err != nil {
			return false
		}
		cols, err := parseHeader(line)
		return err == nil && cols.kind == kindMailboxes
	}
	var first, rest []source
	for _, s := range srcs {
		if isMailbox(s) {
			first = append(first, s)
		} else {
			rest = append(rest, s)
		}
	}
	return append(first, rest...)
}

// isZip reports whether the file at p starts like a zip archive.
func isZip(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && bytes.Equal(magic[:], []byte("PK\x03\x04"))
}

// FileSummary tells what an import found in one file.
type FileSummary struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Rows     int    `json:"rows"`     // data lines read
	Rejected int    `json:"rejected"` // of which rejected
	Encoding string `json:"encoding"` // "UTF-8", "Latin-1" or "UTF-8 and Latin-1"
	Skipped  bool   `json:"skipped"`  // a file the directory does not use
}

// Rejection is a line an import could not use.
type Rejection struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

func (r Rejection) String() string {
	return fmt.Sprintf("%s line %d: %s", r.File, r.Line, r.Reason)
}

// maxRejections is how many rejections an import keeps with their details; it
// counts the others.
const maxRejections = 100

// rejections collects the lines an import could not use.
type rejections struct {
	count int
	list  []Rejection
}

func (r *rejections) add(file string, line int, reason string) {
	r.count++
	if len(r.list) < maxRejections {
		r.list = append(r.list, Rejection{File: file, Line: line, Reason: reason})
	}
}

// rowSink receives what a file holds.
type rowSink interface {
	entry(stageRow) error
	skill(skillRow) error
}

// readSource reads one extraction file into sink. An error means the whole file
// is unusable; lines that are not are counted in fs and rej. read is advanced by
// the bytes consumed, for progress.
func readSource(src source, fileNo int, sink rowSink, fs *FileSummary, rej *rejections, read *atomic.Int64) error {
	rc, err := src.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	head := make([]byte, 4)
	n, err := io.ReadFull(rc, head)
	head = head[:n]
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return err
	}
	if isUTF16(head) {
		return errors.New("encoded in UTF-16; the extractions are UTF-8 or Latin-1")
	}
	lr := newLineReader(&countingReader{r: io.MultiReader(bytes.NewReader(head), rc), n: read})
	header, err := lr.next()
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("empty file: no header line")
	case errors.Is(err, errLineTooLong):
		return errors.New("header line longer than 64 KiB: not an extraction file")
	case errors.Is(err, errNUL):
		return errors.New("header holds NUL bytes: binary data or UTF-16, not an extraction file")
	case err != nil:
		return err
	}
	cols, err := parseHeader(header)
	if err != nil {
		return err
	}
	fs.Kind = cols.kind.String()
	if cols.kind == kindDiplomas {
		fs.Skipped = true
		return nil
	}
	var fields []string
	for {
		line, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil && strings.TrimSpace(line) == "" {
			continue
		}
		fs.Rows++
		reason := ""
		switch {
		case errors.Is(err, errLineTooLong), errors.Is(err, errNUL):
			reason = err.Error()
		case err != nil:
			return fmt.Errorf("line %d: %w", lr.line, err)
		default:
			fields = splitFields(fields, line)
			reason, err = handleRow(record{cols: cols, fields: fields}, int64(fileNo)<<32|int64(lr.line), sink)
			if err != nil {
				return err
			}
		}
		if reason != "" {
			fs.Rejected++
			rej.add(src.name, lr.line, reason)
		}
	}
	switch {
	case lr.latin1 == 0:
		fs.Encoding = "UTF-8"
	case lr.utf8 == 0:
		fs.Encoding = "Latin-1"
	default:
		fs.Encoding = "UTF-8 and Latin-1"
	}
	if fs.Rows == 0 {
		return errors.New("no data lines after the header")
	}
	if fs.Rejected > 100 && fs.Rejected*10 > fs.Rows {
		return fmt.Errorf("%d of %d lines rejected: the file looks damaged", fs.Rejected, fs.Rows)
	}
	return nil
}

// handleRow checks one split line and hands it to sink. It returns why the line
// is rejected, or "".
func handleRow(r record, src int64, sink rowSink) (string, error) {
	if n := len(r.fields); n != r.cols.count {
		what := "short"
		if n > r.cols.count {
			what = "long"
		}
		return fmt.Sprintf("%d fields where the header has %d (%s line)", n, r.cols.count, what), nil
	}
	switch r.cols.kind {
	case kindSkills:
		s, reason := skill(r)
		if reason != "" {
			return reason, nil
		}
		s.src = src
		return "", sink.skill(s)
	case kindMailboxes:
		row, reason := mailboxRow(r)
		if reason != "" {
			return reason, nil
		}
		row.src = src
		return "", sink.entry(row)
	default:
		row, reason := activityRow(r)
		if reason != "" {
			return reason, nil
		}
		row.src = src
		return "", sink.entry(row)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
