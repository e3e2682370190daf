package imap

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"caduceus/internal/core"
)

// cmdSearch answers SEARCH (RFC 9051 §6.4.4) with ESEARCH return options
// (RFC 4731) and SAVE (RFC 5182), and SORT (RFC 5256). Keys on flags,
// sizes, dates and the core's decoded Subject, From, To and Cc are
// answered from metadata; HEADER, BCC, BODY and TEXT read the message.
func (c *conn) cmdSearch(cmd *Command) {
	a := cmd.Args.(*SearchArgs)
	switch a.Charset {
	case "", "US-ASCII", "UTF-8":
	default:
		c.w.Tagged(cmd.Tag, "NO", "BADCHARSET (US-ASCII UTF-8)", "unsupported charset")
		return
	}
	sel := c.sel
	msgs, err := c.srv.svc.Messages(c.ctx, c.actor, sel.folder.ID, core.MessageQuery{})
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	var found []core.Message
	var seqs []uint32
	var maxMod uint64
	for _, m := range msgs {
		seq, ok := sel.tracker.Seq(m.UID)
		if !ok {
			continue
		}
		ct := &content{c: c, m: m}
		if c.match(a.Key, seq, m, ct) {
			found = append(found, m)
			seqs = append(seqs, seq)
			maxMod = max(maxMod, m.ModSeq)
		}
	}
	if cmd.Name == "SORT" {
		sortMessages(found, a.Criteria)
	}
	nums := make([]uint32, len(found))
	uids := make([]uint32, len(found))
	for i, m := range found {
		uids[i] = m.UID
		nums[i] = seqs[i]
		if cmd.UID {
			nums[i] = m.UID
		} else if cmd.Name == "SORT" {
			nums[i], _ = sel.tracker.Seq(m.UID)
		}
	}
	modseq := usesModSeq(a.Key)
	switch {
	case cmd.Name == "SORT":
		c.w.Untagged()
		c.w.Atom("SORT")
		for _, n := range nums {
			c.w.SP()
			c.w.Number(n)
		}
		c.w.CRLF()
	case a.HasReturn || c.enabled["IMAP4REV2"]:
		c.esearch(cmd, a, nums, uids, modseq, maxMod)
	default:
		c.w.Untagged()
		c.w.Atom("SEARCH")
		for _, n := range nums {
			c.w.SP()
			c.w.Number(n)
		}
		if modseq && len(nums) > 0 {
			c.w.Atom(" (MODSEQ ")
			c.w.Number64(maxMod)
			c.w.Close()
		}
		c.w.CRLF()
	}
	c.sync(cmd.UID)
	c.ok(cmd.Tag, "", cmd.Name+" done")
}

// esearch writes an ESEARCH response (RFC 4731 §3.1, RFC 9051 §7.3.4).
func (c *conn) esearch(cmd *Command, a *SearchArgs, nums, uids []uint32, modseq bool, maxMod uint64) {
	opts := a.Return
	if len(opts) == 0 {
		opts = []string{"ALL"}
	}
	if slices.Contains(opts, "SAVE") {
		c.sel.saved = uids
		if len(opts) == 1 {
			return
		}
	}
	c.w.Untagged()
	c.w.Atom(`ESEARCH (TAG "`)
	c.w.Atom(cmd.Tag)
	c.w.Atom(`")`)
	if cmd.UID {
		c.w.Atom(" UID")
	}
	sorted := slices.Sorted(slices.Values(nums))
	for _, o := range opts {
		switch {
		case o == "MIN" && len(sorted) > 0:
			c.w.Atom(" MIN ")
			c.w.Number(sorted[0])
		case o == "MAX" && len(sorted) > 0:
			c.w.Atom(" MAX ")
			c.w.Number(sorted[len(sorted)-1])
		case o == "COUNT":
			c.w.Atom(" COUNT ")
			c.w.Number(uint32(len(sorted)))
		case o == "ALL" && len(sorted) > 0:
			c.w.Atom(" ALL ")
			c.w.Atom(NumSetOf(sorted).String())
		}
	}
	if modseq && len(sorted) > 0 {
		c.w.Atom(" MODSEQ ")
		c.w.Number64(maxMod)
	}
	c.w.CRLF()
}

func usesModSeq(k *SearchKey) bool {
	if k.Op == "MODSEQ" {
		return true
	}
	return slices.ContainsFunc(k.Keys, usesModSeq)
}

// match evaluates a search key on one message.
func (c *conn) match(k *SearchKey, seq uint32, m core.Message, ct *content) bool {
	t := c.sel.tracker
	has := func(f core.Flags) bool { return m.Flags&f != 0 }
	switch k.Op {
	case "AND":
		for _, sub := range k.Keys {
			if !c.match(sub, seq, m, ct) {
				return false
			}
		}
		return true
	case "OR":
		return c.match(k.Keys[0], seq, m, ct) || c.match(k.Keys[1], seq, m, ct)
	case "NOT":
		return !c.match(k.Keys[0], seq, m, ct)
	case "ALL":
		return true
	case "SEQSET":
		if k.Set.SearchRes {
			return slices.Contains(c.sel.saved, m.UID)
		}
		return k.Set.Contains(seq, t.Len())
	case "UID":
		if k.Set.SearchRes {
			return slices.Contains(c.sel.saved, m.UID)
		}
		return k.Set.Contains(m.UID, t.MaxUID())
	case "ANSWERED":
		return has(core.FlagAnswered)
	case "UNANSWERED":
		return !has(core.FlagAnswered)
	case "DELETED":
		return has(core.FlagDeleted)
	case "UNDELETED":
		return !has(core.FlagDeleted)
	case "DRAFT":
		return has(core.FlagDraft)
	case "UNDRAFT":
		return !has(core.FlagDraft)
	case "FLAGGED":
		return has(core.FlagFlagged)
	case "UNFLAGGED":
		return !has(core.FlagFlagged)
	case "SEEN", "OLD":
		return k.Op == "OLD" || has(core.FlagSeen)
	case "UNSEEN":
		return !has(core.FlagSeen)
	case "NEW", "RECENT":
		return false // no message is \Recent (RFC 9051 removed it)
	case "KEYWORD", "UNKEYWORD":
		in := slices.ContainsFunc(m.Keywords, func(kw string) bool { return strings.EqualFold(kw, k.Value) })
		if sys, ok := core.ParseFlag(k.Value); ok {
			in = has(sys)
		}
		return in == (k.Op == "KEYWORD")
	case "LARGER":
		return uint64(m.Size) > k.Num
	case "SMALLER":
		return uint64(m.Size) < k.Num
	case "MODSEQ":
		return m.ModSeq >= k.Num
	case "BEFORE", "ON", "SINCE":
		return compareDate(m.InternalDate, k.Date, k.Op)
	case "SENTBEFORE", "SENTON", "SENTSINCE":
		return !m.Date.IsZero() && compareDate(m.Date, k.Date, strings.TrimPrefix(k.Op, "SENT"))
	case "SUBJECT":
		return containsFold(m.Subject, k.Value)
	case "FROM":
		return containsFold(m.From, k.Value)
	case "TO":
		return containsFold(m.To, k.Value)
	case "CC":
		return containsFold(m.Cc, k.Value)
	case "BCC", "HEADER":
		field := k.Field
		if k.Op == "BCC" {
			field = "Bcc"
		}
		h, err := ct.headerBytes()
		if err != nil {
			return false
		}
		hdr := parseHeaderLenient(h)
		for _, v := range hdr.Values(field) {
			if containsFold(decodeWords(v), k.Value) {
				return true
			}
		}
		return k.Op == "HEADER" && k.Value == "" && hdr.Has(field)
	case "BODY", "TEXT":
		return c.matchContent(ct, k.Value, k.Op == "TEXT")
	}
	return false
}

// matchContent looks for text in the raw body (BODY) or the whole message
// (TEXT), reading it in chunks.
func (c *conn) matchContent(ct *content, text string, withHeader bool) bool {
	rd, err := ct.reader()
	if err != nil {
		return false
	}
	h, err := ct.headerBytes()
	if err != nil {
		return false
	}
	start := int64(len(h))
	if withHeader {
		start = 0
	}
	needle := bytes.ToLower([]byte(text))
	buf := make([]byte, 64<<10)
	keep := len(needle)
	var carry []byte
	for off := start; off < rd.Size(); {
		n, err := rd.ReadAt(buf, off)
		chunk := append(carry, bytes.ToLower(buf[:n])...)
		if bytes.Contains(chunk, needle) {
			return true
		}
		if len(chunk) > keep {
			carry = append([]byte(nil), chunk[len(chunk)-keep:]...)
		}
		off += int64(n)
		if err != nil || n == 0 {
			break
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// compareDate compares the date of t with day, ignoring time and zone
// (RFC 9051 §6.4.4).
func compareDate(t, day time.Time, op string) bool {
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch op {
	case "BEFORE":
		return d.Before(day)
	case "ON":
		return d.Equal(day)
	default:
		return !d.Before(day)
	}
}

// sortMessages orders messages by SORT criteria (RFC 5256 §3), with the
// UID as the last tie-breaker.
func sortMessages(msgs []core.Message, crit []SortCriterion) {
	slices.SortStableFunc(msgs, func(a, b core.Message) int {
		for _, cr := range crit {
			r := 0
			switch cr.Key {
			case "ARRIVAL":
				r = a.InternalDate.Compare(b.InternalDate)
			case "DATE":
				r = sentOrArrival(a).Compare(sentOrArrival(b))
			case "SIZE":
				r = int(a.Size - b.Size)
			case "SUBJECT":
				r = strings.Compare(baseSubject(a.Subject), baseSubject(b.Subject))
			case "FROM":
				r = strings.Compare(strings.ToLower(a.From), strings.ToLower(b.From))
			case "TO":
				r = strings.Compare(strings.ToLower(a.To), strings.ToLower(b.To))
			case "CC":
				r = strings.Compare(strings.ToLower(a.Cc), strings.ToLower(b.Cc))
			}
			if cr.Reverse {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return int(int64(a.UID) - int64(b.UID))
	})
}

func sentOrArrival(m core.Message) time.Time {
	if m.Date.IsZero() {
		return m.InternalDate
	}
	return m.Date
}

// baseSubject strips reply and forward markers (RFC 5256 §2.1, simplified
// to the common prefixes and trailers).
func baseSubject(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	for {
		trimmed := strings.TrimSuffix(strings.TrimSpace(s), "(fwd)")
		for _, p := range []string{"re:", "fw:", "fwd:", "tr:"} {
			trimmed = strings.TrimSpace(strings.TrimPrefix(trimmed, p))
		}
		if trimmed == s {
			return s
		}
		s = trimmed
	}
}
