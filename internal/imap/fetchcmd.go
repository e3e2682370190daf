package imap

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"caduceus/internal/blob"
	"caduceus/internal/core"
	"caduceus/internal/message"
)

// target is a message a command names: its sequence number and UID.
type target struct{ seq, uid uint32 }

// targets resolves a sequence set, or a UID set for UID commands, or "$",
// against the client's view of the selected folder.
func (c *conn) targets(set NumSet, uid bool) []target {
	t := c.sel.tracker
	var out []target
	if set.SearchRes {
		for _, u := range c.sel.saved {
			if seq, ok := t.Seq(u); ok {
				out = append(out, target{seq, u})
			}
		}
		return out
	}
	if uid {
		for seq, u := range t.UIDs(set.Resolve(t.MaxUID())) {
			out = append(out, target{seq, u})
		}
		return out
	}
	for seq, u := range t.Seqs(set.Resolve(t.Len())) {
		out = append(out, target{seq, u})
	}
	return out
}

// uidRanges turns targets into the core's ranges. Targets next to each
// other in the client's view make one range even where the UIDs between
// them were expunged, so that FETCH 1:50 is one range however many
// messages left the folder: the UIDs in such a gap belong to no message
// (new messages take higher UIDs), and the caller looks messages up by the
// targets' UIDs anyway.
func uidRanges(ts []target) []core.UIDRange {
	sorted := slices.SortedFunc(slices.Values(ts), func(a, b target) int { return cmp.Compare(a.seq, b.seq) })
	var out []core.UIDRange
	for i, t := range sorted {
		switch {
		case i > 0 && t.seq == sorted[i-1].seq:
		case i > 0 && t.seq == sorted[i-1].seq+1:
			out[len(out)-1].Hi = t.uid
		default:
			out = append(out, core.UIDRange{Lo: t.uid, Hi: t.uid})
		}
	}
	return out
}

// messagesOf returns the metadata of the targets that still exist, by UID.
func (c *conn) messagesOf(ts []target) (map[uint32]core.Message, error) {
	out := make(map[uint32]core.Message, len(ts))
	if len(ts) == 0 {
		return out, nil
	}
	msgs, err := c.srv.svc.Messages(c.ctx, c.actor, c.sel.folder.ID, core.MessageQuery{UIDs: uidRanges(ts)})
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		out[m.UID] = m
	}
	return out, nil
}

// cmdFetch answers FETCH and UID FETCH (RFC 9051 §6.4.5), with
// CHANGEDSINCE and VANISHED (RFC 7162) and BINARY (RFC 3516). Bodies are
// streamed from the blob store, one message at a time.
func (c *conn) cmdFetch(cmd *Command) error {
	a := cmd.Args.(*FetchArgs)
	sel := c.sel
	items := a.Items
	if cmd.UID && !hasItem(items, "UID") {
		items = append([]FetchItem{{Name: "UID"}}, items...)
	}
	if a.ChangedSince > 0 && !hasItem(items, "MODSEQ") {
		items = append(items, FetchItem{Name: "MODSEQ"})
	}
	if hasItem(items, "MODSEQ") {
		c.enableCondstore()
	}
	ts := c.targets(a.Set, cmd.UID)
	if a.Vanished {
		c.fetchVanished(a)
	}
	msgs, err := c.messagesOf(ts)
	if err != nil {
		c.fail(cmd.Tag, err)
		return nil
	}
	if !sel.readOnly && slices.ContainsFunc(items, FetchItem.SetsSeen) {
		c.markSeen(ts, msgs)
		if !hasItem(items, "FLAGS") {
			items = append(items, FetchItem{Name: "FLAGS"})
		}
	}
	var list []*content
	gone := false // some messages were expunged by another connection
	uidOnly := !slices.ContainsFunc(items, func(it FetchItem) bool { return it.Name != "UID" })
	for _, t := range ts {
		m, ok := msgs[t.uid]
		if !ok {
			gone = true
			if uidOnly {
				// The client still knows the message: its UID is all it
				// asked and can still be told (RFC 2180 §4.1.1).
				c.w.Untagged()
				c.w.Number(t.seq)
				c.w.Atom(" FETCH (UID ")
				c.w.Number(t.uid)
				c.w.Atom(")\r\n")
			}
			continue
		}
		if a.ChangedSince > 0 && m.ModSeq <= a.ChangedSince {
			continue
		}
		list = append(list, &content{c: c, seq: t.seq, m: m})
	}
	failed := false
	for _, ct := range list {
		err := c.fetchOne(ct, items)
		switch {
		case err == nil:
		case c.w.Err() != nil:
			return c.w.Err()
		case errors.Is(err, core.ErrNotFound):
			gone = true
		default:
			c.srv.log.Error("imap fetch failed", "account", c.actor.AccountID, "err", err)
			failed = true
		}
	}
	c.sync(cmd.UID)
	switch {
	case failed:
		c.w.Tagged(cmd.Tag, "NO", "SERVERBUG", "some messages could not be read")
	case gone && !cmd.UID:
		// The surviving messages were sent: OK, with a hint to NOOP
		// (RFC 2180 §4.1.1, RFC 5530 §3 EXPUNGEISSUED). A client
		// pipelining FETCHes expects what survives, not a failure. UID
		// FETCH ignores UIDs that no longer exist (RFC 9051 §6.4.8).
		c.ok(cmd.Tag, "EXPUNGEISSUED", "some messages were expunged meanwhile")
	default:
		c.ok(cmd.Tag, "", "FETCH done")
	}
	return nil
}

func hasItem(items []FetchItem, name string) bool {
	for _, it := range items {
		if it.Name == name {
			return true
		}
	}
	return false
}

// fetchVanished sends the UIDs of the set expunged since CHANGEDSINCE
// (RFC 7162 §3.2.6).
func (c *conn) fetchVanished(a *FetchArgs) {
	gone, err := c.srv.svc.Vanished(c.ctx, c.actor, c.sel.folder.ID, a.ChangedSince)
	if err != nil {
		return
	}
	var in []uint32
	for _, u := range gone {
		if a.Set.Contains(u, c.sel.tracker.MaxUID()) {
			in = append(in, u)
		}
	}
	if len(in) > 0 {
		c.w.Untagged()
		c.w.Atom("VANISHED (EARLIER) ")
		c.w.Atom(NumSetOf(in).String())
		c.w.CRLF()
	}
}

// markSeen sets \Seen on the targets that lack it, as fetching a body
// does (RFC 9051 §6.4.5).
func (c *conn) markSeen(ts []target, msgs map[uint32]core.Message) {
	var uids []uint32
	for _, t := range ts {
		if m, ok := msgs[t.uid]; ok && m.Flags&core.FlagSeen == 0 {
			uids = append(uids, t.uid)
		}
	}
	if len(uids) == 0 {
		return
	}
	after, _, err := c.srv.svc.StoreFlags(c.ctx, c.actor, c.sel.folder.ID, uids, core.FlagChange{Op: core.FlagsAdd, Flags: core.FlagSeen})
	if err != nil {
		return
	}
	own := len(after) > 0 && c.sel.ownChange(after[0].ModSeq)
	for _, m := range after {
		// Keep the listed message, which the core opens without asking
		// again (core.Service.OpenListed), with its new flags.
		listed := msgs[m.UID]
		listed.Flags, listed.Keywords, listed.ModSeq = m.Flags, m.Keywords, m.ModSeq
		msgs[m.UID] = listed
		if !own {
			c.sel.own[m.UID] = m.ModSeq
		}
	}
}

// content is what a FETCH reads of one message's bytes, loaded once.
type content struct {
	c      *conn
	seq    uint32
	m      core.Message
	rd     *blob.Reader
	header []byte // the whole header, with the empty line that ends it
	root   *message.Part
}

// reader opens the message, listed by Messages, without asking the core
// for its rights or its place again (core.Service.OpenListed).
func (ct *content) reader() (*blob.Reader, error) {
	if ct.rd == nil {
		rd, err := ct.c.srv.svc.OpenListed(ct.m)
		if err != nil {
			return nil, err
		}
		ct.rd = rd
	}
	return ct.rd, nil
}

// headerBytes reads the message header only.
func (ct *content) headerBytes() ([]byte, error) {
	if ct.header != nil {
		return ct.header, nil
	}
	rd, err := ct.reader()
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(io.NewSectionReader(rd, 0, rd.Size()))
	var h bytes.Buffer
	for h.Len() < message.MaxHeaderBytes {
		line, err := br.ReadSlice('\n')
		h.Write(line)
		if err != nil && err != bufio.ErrBufferFull {
			break
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 && err == nil {
			break
		}
	}
	ct.header = h.Bytes()
	return ct.header, nil
}

// structure returns the message's model, stored with it at delivery
// (core.Service.Model), without reading the message.
func (ct *content) structure() (*message.Part, error) {
	if ct.root != nil {
		return ct.root, nil
	}
	root, err := ct.c.srv.svc.Model(ct.m)
	if err != nil {
		return nil, err
	}
	ct.root = root
	return root, nil
}

// fetchOne writes the FETCH response of one message. What needs the
// message's bytes is read before the response starts, so a read error
// never leaves a response half written.
func (c *conn) fetchOne(ct *content, items []FetchItem) error {
	seq, m := ct.seq, ct.m
	type prepared struct {
		data   []byte // small values: headers
		start  int64  // or a range of the blob, streamed
		length int64
		nilVal bool
		binary bool
		// decoded, when set, is a leaf's body without its transfer
		// encoding (BINARY), streamed from start over length bytes of
		// the decoded body.
		decoded *message.Part
	}
	prep := make([]prepared, len(items))
	for i, it := range items {
		var err error
		switch it.Name {
		case "ENVELOPE", "BODYSTRUCTURE":
			_, err = ct.structure()
		case "BODY", "BINARY", "BINARY.SIZE", "RFC822", "RFC822.HEADER", "RFC822.TEXT":
			if it.Name == "BODY" && it.Section == nil {
				_, err = ct.structure()
				break
			}
			p := &prep[i]
			p.data, p.decoded, p.start, p.length, p.nilVal, p.binary, err = c.section(ct, it)
		}
		if err != nil {
			return err
		}
	}
	w := c.w
	if hasItem(items, "FLAGS") {
		c.announceKeywords(m.Keywords)
	}
	w.Untagged()
	w.Number(seq)
	w.Atom(" FETCH (")
	for i, it := range items {
		if i > 0 {
			w.SP()
		}
		switch it.Name {
		case "UID":
			w.Atom("UID ")
			w.Number(m.UID)
		case "FLAGS":
			w.Atom("FLAGS ")
			w.Flags(c.flagNames(m))
		case "INTERNALDATE":
			w.Atom("INTERNALDATE ")
			w.String(m.InternalDate.Format("02-Jan-2006 15:04:05 -0700"))
		case "RFC822.SIZE":
			w.Atom("RFC822.SIZE ")
			w.Number64(uint64(m.Size))
		case "MODSEQ":
			w.Atom("MODSEQ (")
			w.Number64(m.ModSeq)
			w.Close()
		case "ENVELOPE":
			w.Atom("ENVELOPE ")
			w.Envelope(ct.root.Envelope)
		case "BODYSTRUCTURE":
			w.Atom("BODYSTRUCTURE ")
			w.BodyStructure(ct.root, true)
		default:
			if it.Name == "BODY" && it.Section == nil {
				w.Atom("BODY ")
				w.BodyStructure(ct.root, false)
				break
			}
			p := prep[i]
			w.Atom(it.ResponseName())
			w.SP()
			switch {
			case it.Name == "BINARY.SIZE":
				w.Number64(uint64(p.length))
			case p.nilVal:
				w.NIL()
			case p.decoded != nil:
				r, err := decodedRange(ct.rd, p.decoded, p.start, p.length)
				if err != nil {
					return err
				}
				if p.binary {
					w.Literal8(p.length, r)
				} else {
					w.Literal(p.length, r)
				}
			case p.data != nil && p.binary:
				w.Literal8(int64(len(p.data)), bytes.NewReader(p.data))
			case p.data != nil:
				w.Literal(int64(len(p.data)), bytes.NewReader(p.data))
			default:
				w.Literal(p.length, io.NewSectionReader(ct.rd, p.start, p.length))
			}
		}
	}
	w.Close()
	w.CRLF()
	return w.Err()
}

// section prepares a BODY[...], BINARY[...], BINARY.SIZE[...] or RFC822*
// item: small data in memory, or a range of the blob to stream, as it is
// or decoded.
func (c *conn) section(ct *content, it FetchItem) (data []byte, decoded *message.Part, start, length int64, nilVal, binary bool, err error) {
	sec := it.Section
	switch it.Name {
	case "RFC822":
		sec = &Section{}
	case "RFC822.HEADER":
		sec = &Section{Specifier: "HEADER"}
	case "RFC822.TEXT":
		sec = &Section{Specifier: "TEXT"}
	}
	if (it.Name == "BINARY" || it.Name == "BINARY.SIZE") && sec.Specifier != "" {
		// A section text names no leaf to decode: BINARY gives what BODY
		// gives, a literal8 if it holds a NUL.
		data, _, start, length, nilVal, _, err := c.section(ct, FetchItem{Name: "BODY", Section: sec, Partial: it.Partial})
		if err != nil || nilVal {
			return nil, nil, 0, 0, nilVal, false, err
		}
		if it.Name == "BINARY.SIZE" {
			if data != nil {
				length = int64(len(data))
			}
			return nil, nil, 0, length, false, false, nil
		}
		if data != nil {
			return data, nil, 0, 0, false, bytes.IndexByte(data, 0) >= 0, nil
		}
		nul, err := rawHasNUL(ct.rd, start, length)
		return nil, nil, start, length, false, nul, err
	}
	if len(sec.Part) == 0 && strings.HasPrefix(sec.Specifier, "HEADER") && it.Name == "BODY" || it.Name == "RFC822.HEADER" {
		h, err := ct.headerBytes()
		if err != nil {
			return nil, nil, 0, 0, false, false, err
		}
		if strings.HasPrefix(sec.Specifier, "HEADER.FIELDS") {
			h = FilterHeader(h, sec.Fields, sec.Specifier == "HEADER.FIELDS.NOT")
		}
		return partialBytes(h, it.Partial), nil, 0, 0, false, false, nil
	}
	root, err := ct.structure()
	if err != nil {
		return nil, nil, 0, 0, false, false, err
	}
	if _, err := ct.reader(); err != nil {
		return nil, nil, 0, 0, false, false, err
	}
	if (it.Name == "BINARY" || it.Name == "BINARY.SIZE") && len(sec.Part) == 0 && (root.IsMultipart() || identityEncoding(root.Encoding)) {
		// BINARY[] names the whole message (RFC 3516 §4.1); a multipart
		// or unencoded top level has nothing to decode, so it goes as is.
		s, e := root.HeaderOffset, root.EndOffset
		if it.Name == "BINARY.SIZE" {
			return nil, nil, 0, e - s, false, false, nil
		}
		if p := it.Partial; p != nil {
			s = min(s+int64(p.Offset), e)
			e = min(s+int64(p.Count), e)
		}
		nul, err := rawHasNUL(ct.rd, s, e-s)
		return nil, nil, s, e - s, false, nul, err
	}
	if it.Name == "BINARY" || it.Name == "BINARY.SIZE" {
		part, ok := root.Locate(sec.Part)
		if !ok || part.IsMultipart() {
			return nil, nil, 0, 0, true, false, nil
		}
		// RFC 3516 §4.2: a body whose encoding cannot be undone is refused.
		if !message.KnownEncoding(part.Encoding) {
			return nil, nil, 0, 0, false, false, fmt.Errorf("imap: %w: transfer encoding %q", errUnknownCTE, part.Encoding)
		}
		if it.Name == "BINARY.SIZE" {
			return nil, nil, 0, part.DecodedSize, false, false, nil
		}
		start, end := int64(0), part.DecodedSize
		if p := it.Partial; p != nil {
			start = min(int64(p.Offset), end)
			end = min(start+int64(p.Count), end)
		}
		// RFC 3516 §4.3: literal8 when the content holds a NUL.
		nul, err := hasNUL(ct.rd, part, start, end-start)
		if err != nil {
			return nil, nil, 0, 0, false, false, err
		}
		return nil, part, start, end - start, false, nul, nil
	}
	s, e, ok := sectionRange(root, sec)
	if !ok {
		return []byte{}, nil, 0, 0, false, false, nil
	}
	if strings.HasPrefix(sec.Specifier, "HEADER.FIELDS") {
		raw := make([]byte, e-s)
		if _, err := ct.rd.ReadAt(raw, s); err != nil && err != io.EOF {
			return nil, nil, 0, 0, false, false, err
		}
		h := FilterHeader(raw, sec.Fields, sec.Specifier == "HEADER.FIELDS.NOT")
		return partialBytes(h, it.Partial), nil, 0, 0, false, false, nil
	}
	if p := it.Partial; p != nil {
		s = min(s+int64(p.Offset), e)
		e = min(s+int64(p.Count), e)
	}
	return nil, nil, s, e - s, false, false, nil
}

// decodedRange returns a reader of length bytes from start of a leaf's
// body without its transfer encoding (RFC 3516 §4.2), decoded as it is
// read: memory stays flat whatever the part's size.
func decodedRange(rd io.ReaderAt, p *message.Part, start, length int64) (io.Reader, error) {
	r, err := message.NewDecoder(p.Encoding, io.NewSectionReader(rd, p.BodyOffset, p.Size()))
	if err != nil {
		return nil, fmt.Errorf("imap: %w: %v", errUnknownCTE, err)
	}
	if _, err := io.CopyN(io.Discard, r, start); err != nil {
		return nil, fmt.Errorf("imap: decode part: %w", err)
	}
	return io.LimitReader(r, length), nil
}

// hasNUL reads a decoded range for a NUL byte.
func hasNUL(rd io.ReaderAt, p *message.Part, start, length int64) (bool, error) {
	r, err := decodedRange(rd, p, start, length)
	if err != nil {
		return false, err
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if bytes.IndexByte(buf[:n], 0) >= 0 {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// identityEncoding reports whether a transfer encoding leaves the body as
// it is (RFC 2045 §6.2).
func identityEncoding(enc string) bool {
	switch strings.ToLower(enc) {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// rawHasNUL reports whether length bytes from start hold a NUL, which
// calls for a literal8 (RFC 3516 §4.3). It reads in small pieces.
func rawHasNUL(rd io.ReaderAt, start, length int64) (bool, error) {
	r := io.NewSectionReader(rd, start, length)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if bytes.IndexByte(buf[:n], 0) >= 0 {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

var errUnknownCTE = errors.New("unknown content transfer encoding")

func partialBytes(b []byte, p *Partial) []byte {
	if p == nil {
		return b
	}
	s := min(int(p.Offset), len(b))
	e := min(s+int(p.Count), len(b))
	return b[s:e]
}

// decodeBase64 decodes a SASL response line.
func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(s)
}
