package imap

import (
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"

	"caduceus/internal/core"
	"caduceus/internal/message"
)

// cmdSearch answers SEARCH (RFC 9051 §6.4.4) with ESEARCH return options
// (RFC 4731) and SAVE (RFC 5182), SORT and THREAD=REFERENCES (RFC 5256).
// Keys on flags, sizes, dates and the core's decoded Subject, From, To
// and Cc are answered from metadata, HEADER and BCC from each message's
// header, BODY and TEXT by the core's full-text search (see the package
// documentation).
func (c *conn) cmdSearch(cmd *Command) {
	a := cmd.Args.(*SearchArgs)
	if cmd.Name == "THREAD" && a.Algorithm != "REFERENCES" {
		c.w.Tagged(cmd.Tag, "BAD", "", "unknown threading algorithm")
		return
	}
	switch a.Charset {
	case "", "US-ASCII", "UTF-8":
	default:
		c.w.Tagged(cmd.Tag, "NO", "BADCHARSET (US-ASCII UTF-8)", "unsupported charset")
		return
	}
	sel := c.sel
	if a.Update && sel.liveSearch(cmd.Tag) != nil {
		c.w.Tagged(cmd.Tag, "BAD", "", "a live search already has this tag")
		return
	}
	if hasModSeq(a.Key) {
		c.enableCondstore()
	}
	if slices.Contains(a.Return, "SAVE") {
		sel.saved = nil // RFC 5182 §2.1: a failed search leaves "$" empty
	}
	msgs, err := c.srv.svc.Messages(c.ctx, c.actor, sel.folder.ID, core.MessageQuery{})
	if err != nil {
		c.fail(cmd.Tag, err)
		return
	}
	run := &searchRun{c: c, text: map[*SearchKey]map[uint32]bool{}}
	if err := run.searchText(a.Key); err != nil {
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
		if run.match(a.Key, seq, m, &content{c: c, seq: seq, m: m}) {
			found = append(found, m)
			seqs = append(seqs, seq)
			maxMod = max(maxMod, m.ModSeq)
		}
	}
	if a.Update {
		uids := make([]uint32, len(found))
		for i, m := range found {
			uids[i] = m.UID
		}
		c.keepSearch(cmd, a, run, uids)
	}
	num := func(i int) uint32 {
		if cmd.UID {
			return found[i].UID
		}
		return seqs[i]
	}
	switch {
	case cmd.Name == "THREAD":
		c.writeThreads(found, num)
	case cmd.Name == "SORT" && a.HasReturn:
		// ESORT (RFC 5267 §3): the ESEARCH of the sorted result.
		order := sortOrder(found, a.Criteria)
		nums := make([]uint32, len(order))
		uids := make([]uint32, len(order))
		mods := make(map[uint32]uint64, len(order))
		for j, i := range order {
			nums[j], uids[j] = num(i), found[i].UID
			mods[nums[j]] = found[i].ModSeq
		}
		c.esearch(cmd, a, nums, uids, usesModSeq(a.Key), maxMod, mods)
	case cmd.Name == "SORT":
		order := sortOrder(found, a.Criteria)
		c.w.Untagged()
		c.w.Atom("SORT")
		for _, i := range order {
			c.w.SP()
			c.w.Number(num(i))
		}
		c.w.CRLF()
	case a.HasReturn || c.enabled["IMAP4REV2"]:
		nums := make([]uint32, len(found))
		uids := make([]uint32, len(found))
		mods := make(map[uint32]uint64, len(found))
		for i := range found {
			nums[i], uids[i] = num(i), found[i].UID
			mods[nums[i]] = found[i].ModSeq
		}
		c.esearch(cmd, a, nums, uids, usesModSeq(a.Key), maxMod, mods)
	default:
		c.w.Untagged()
		c.w.Atom("SEARCH")
		for i := range found {
			c.w.SP()
			c.w.Number(num(i))
		}
		if usesModSeq(a.Key) && len(found) > 0 {
			c.w.Atom(" (MODSEQ ")
			c.w.Number64(maxMod)
			c.w.Close()
		}
		c.w.CRLF()
	}
	c.sync(cmd.UID)
	c.ok(cmd.Tag, "", cmd.Name+" done")
}

// writeThreads answers THREAD=REFERENCES (RFC 5256 §3, §4).
func (c *conn) writeThreads(found []core.Message, num func(int) uint32) {
	msgs := make([]*threadMsg, len(found))
	for i, m := range found {
		msgs[i] = newThreadMsg(num(i), m)
	}
	c.w.Untagged()
	c.w.Atom("THREAD")
	if len(msgs) > 0 {
		c.w.SP()
		writeThreads(c.w, threadReferences(msgs))
	}
	c.w.CRLF()
}

// esearch writes an ESEARCH response (RFC 4731 §3.1, RFC 9051 §7.3.4) and
// saves the result for "$" (RFC 5182). nums are the result in its order:
// ascending for SEARCH, the sort order for SORT, where MIN and MAX are
// the first and last message and ALL and PARTIAL keep the order
// (ESORT, RFC 5267 §3).
func (c *conn) esearch(cmd *Command, a *SearchArgs, nums, uids []uint32, modseq bool, maxMod uint64, mods map[uint32]uint64) {
	opts := a.Return
	if len(opts) == 0 {
		opts = []string{"ALL"}
	}
	if slices.Contains(opts, "SAVE") {
		c.sel.saved = savedResult(opts, uids)
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
	n := len(nums)
	for _, o := range opts {
		switch {
		case o == "MIN" && n > 0:
			c.w.Atom(" MIN ")
			c.w.Number(nums[0])
		case o == "MAX" && n > 0:
			c.w.Atom(" MAX ")
			c.w.Number(nums[n-1])
		case o == "COUNT":
			c.w.Atom(" COUNT ")
			c.w.Number(uint32(n))
		case o == "ALL" && n > 0:
			c.w.Atom(" ALL ")
			c.w.Atom(orderedSet(nums))
		case o == "PARTIAL":
			c.writePartial(*a.Partial, nums)
		}
	}
	if modseq && n > 0 {
		if !slices.Contains(opts, "ALL") && !slices.Contains(opts, "COUNT") {
			// Only MIN and/or MAX are returned: MODSEQ is the highest of
			// those messages (RFC 7162 §3.1.5).
			maxMod = 0
			if slices.Contains(opts, "MIN") {
				maxMod = mods[nums[0]]
			}
			if slices.Contains(opts, "MAX") {
				maxMod = max(maxMod, mods[nums[n-1]])
			}
		}
		c.w.Atom(" MODSEQ ")
		c.w.Number64(maxMod)
	}
	c.w.CRLF()
}

// writePartial writes the PARTIAL return data (RFC 5267 §4.4): the
// messages at 1-based positions r.Start to r.Stop of the result, NIL when
// none is.
func (c *conn) writePartial(r NumRange, nums []uint32) {
	c.w.Atom(" PARTIAL (")
	c.w.Number(r.Start)
	c.w.Atom(":")
	c.w.Number(r.Stop)
	c.w.SP()
	low, high := int(r.Start)-1, min(int(r.Stop), len(nums))
	if low >= high {
		c.w.Atom("NIL")
	} else {
		c.w.Atom(orderedSet(nums[low:high]))
	}
	c.w.Close()
}

// orderedSet writes nums as a sequence-set that keeps their order: runs of
// consecutive ascending numbers become ranges ("3:5,1:2"), as ESORT's ALL
// and PARTIAL are in sort order (RFC 5267 §3). Ascending nums give the
// compact set.
func orderedSet(nums []uint32) string {
	var b strings.Builder
	for i := 0; i < len(nums); {
		j := i
		for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(numString(nums[i]))
		if j > i {
			b.WriteByte(':')
			b.WriteString(numString(nums[j]))
		}
		i = j + 1
	}
	return b.String()
}

// savedResult is what SAVE keeps of a result, uids in its order: with MIN
// or MAX but neither ALL nor COUNT, only the message each returns, the
// lowest or highest of a SEARCH, the first or last of a SORT
// (RFC 5182 §2.4, RFC 5267 §3).
func savedResult(opts []string, uids []uint32) []uint32 {
	if len(uids) == 0 || slices.Contains(opts, "ALL") || slices.Contains(opts, "COUNT") ||
		!slices.Contains(opts, "MIN") && !slices.Contains(opts, "MAX") {
		return uids
	}
	var out []uint32
	if slices.Contains(opts, "MIN") {
		out = append(out, uids[0])
	}
	if last := uids[len(uids)-1]; slices.Contains(opts, "MAX") && (len(out) == 0 || last != out[0]) {
		out = append(out, last)
	}
	return out
}

func usesModSeq(k *SearchKey) bool {
	if k.Op == "MODSEQ" {
		return true
	}
	return slices.ContainsFunc(k.Keys, usesModSeq)
}

// searchRun evaluates one search: the messages the core's full-text
// search found for each BODY and TEXT key are asked for once.
type searchRun struct {
	c    *conn
	text map[*SearchKey]map[uint32]bool // nil for a key that every message matches
}

// searchText asks the core for the messages matching each BODY and TEXT
// key of k.
func (r *searchRun) searchText(k *SearchKey) error {
	if k.Op == "BODY" || k.Op == "TEXT" {
		if strings.IndexFunc(k.Value, isWordRune) < 0 {
			r.text[k] = nil // no word to look for: as the empty string, every message
			return nil
		}
		search := r.c.srv.svc.SearchFolder
		if k.Op == "BODY" {
			search = r.c.srv.svc.SearchFolderBody
		}
		uids, err := search(r.c.ctx, r.c.actor, r.c.sel.folder.ID, k.Value)
		if err != nil {
			return err
		}
		set := make(map[uint32]bool, len(uids))
		for _, u := range uids {
			set[u] = true
		}
		r.text[k] = set
	}
	for _, sub := range k.Keys {
		if err := r.searchText(sub); err != nil {
			return err
		}
	}
	return nil
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// match evaluates a search key on one message.
func (r *searchRun) match(k *SearchKey, seq uint32, m core.Message, ct *content) bool {
	sel := r.c.sel
	t := sel.tracker
	has := func(f core.Flags) bool { return m.Flags&f != 0 }
	switch k.Op {
	case "AND":
		for _, sub := range k.Keys {
			if !r.match(sub, seq, m, ct) {
				return false
			}
		}
		return true
	case "OR":
		return r.match(k.Keys[0], seq, m, ct) || r.match(k.Keys[1], seq, m, ct)
	case "NOT":
		return !r.match(k.Keys[0], seq, m, ct)
	case "ALL":
		return true
	case "SEQSET":
		if k.Set.SearchRes {
			return slices.Contains(sel.saved, m.UID)
		}
		return k.Set.Contains(seq, t.Len())
	case "UID":
		if k.Set.SearchRes {
			return slices.Contains(sel.saved, m.UID)
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
	case "SEEN":
		return has(core.FlagSeen)
	case "UNSEEN":
		return !has(core.FlagSeen)
	case "RECENT": // RFC 3501 §6.4.4; never true for IMAP4rev2 (RFC 9051 Appendix E)
		return r.c.withRecent() && sel.isRecent(m.UID)
	case "NEW":
		return r.c.withRecent() && sel.isRecent(m.UID) && !has(core.FlagSeen)
	case "OLD":
		return !r.c.withRecent() || !sel.isRecent(m.UID)
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
		return r.sentDateMatches(m, ct, k)
	case "SUBJECT", "FROM", "TO", "CC":
		if k.Value == "" {
			// The empty string matches the messages that have the field
			// (RFC 3501 §6.4.4: "contains the specified string").
			return r.hasField(ct, k.Op)
		}
		switch k.Op {
		case "SUBJECT":
			return containsFold(m.Subject, k.Value)
		case "FROM":
			return addressesContain(m.From, k.Value)
		case "TO":
			return addressesContain(m.To, k.Value)
		default:
			return addressesContain(m.Cc, k.Value)
		}
	case "BCC", "HEADER":
		field := k.Field
		if k.Op == "BCC" {
			field = "Bcc"
		}
		h, err := ct.headerBytes()
		if err != nil {
			return false
		}
		hdr := message.ParseHeader(h)
		for _, v := range hdr.Values(field) {
			if containsFold(message.DecodeWords(v), k.Value) {
				return true
			}
		}
		return k.Op == "HEADER" && k.Value == "" && hdr.Has(field)
	case "BODY", "TEXT":
		set, ok := r.text[k]
		return ok && (set == nil || set[m.UID])
	}
	return false
}

// hasField reports whether the message has a header field named field.
func (r *searchRun) hasField(ct *content, field string) bool {
	h, err := ct.headerBytes()
	if err != nil {
		return false
	}
	hdr := message.ParseHeader(h)
	return hdr.Has(field)
}

// sentDateMatches compares the date of the Date: field, as written in the
// sender's time zone, with the day of a SENTBEFORE, SENTON or SENTSINCE
// key (RFC 3501 §6.4.4: "disregarding time and timezone"); the stored
// instant serves when the field cannot be read again.
func (r *searchRun) sentDateMatches(m core.Message, ct *content, k *SearchKey) bool {
	if m.Date.IsZero() {
		return false
	}
	sent := m.Date
	if h, err := ct.headerBytes(); err == nil {
		hdr := message.ParseHeader(h)
		if t, err := mail.ParseDate(hdr.Get("Date")); err == nil {
			sent = t
		}
	}
	return compareDate(sent, k.Date, strings.TrimPrefix(k.Op, "SENT"))
}

// addressesContain reports whether an address field, as written, contains
// sub, or does once its addresses are read: "<a (comment)@ b.org>" holds
// "a@b.org" (RFC 5322 §3.4, comments are not part of an address).
func addressesContain(field, sub string) bool {
	if containsFold(field, sub) {
		return true
	}
	list, err := mail.ParseAddressList(field)
	if err != nil {
		if list, err = mail.ParseAddressList(withoutComments(field)); err != nil {
			return false
		}
	}
	for _, a := range list {
		if containsFold(a.Name+" <"+a.Address+">", sub) {
			return true
		}
	}
	return false
}

// withoutComments drops the comments of an address field and the blanks
// around its "@", which net/mail does not accept inside an address
// (RFC 5322 §3.2.2 CFWS, §3.4.1).
func withoutComments(s string) string {
	var b strings.Builder
	depth, quoted, escaped := 0, false, false
	for _, r := range s {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case quoted:
			quoted = r != '"'
		case r == '"' && depth == 0:
			quoted = true
		case r == '(':
			depth++
			continue
		case r == ')' && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteRune(r)
		}
	}
	out := b.String()
	for _, blank := range []string{" @", "@ ", "\t@", "@\t"} {
		for strings.Contains(out, blank) {
			out = strings.ReplaceAll(out, blank, "@")
		}
	}
	return out
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

// sortOrder returns the indexes of msgs in the order of the SORT criteria
// (RFC 5256 §3), the sequence (or UID) order breaking ties.
func sortOrder(msgs []core.Message, crit []SortCriterion) []int {
	keys := make([]sortKeys, len(msgs))
	order := make([]int, len(msgs))
	for i, m := range msgs {
		keys[i] = newSortKeys(m)
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ka, kb := &keys[a], &keys[b]
		for _, cr := range crit {
			r := 0
			switch cr.Key {
			case "ARRIVAL":
				r = ka.arrival.Compare(kb.arrival)
			case "DATE":
				r = ka.sent.Compare(kb.sent)
			case "SIZE":
				r = compareInt(ka.size, kb.size)
			case "SUBJECT":
				r = strings.Compare(ka.subject, kb.subject)
			case "FROM":
				r = strings.Compare(ka.from, kb.from)
			case "TO":
				r = strings.Compare(ka.to, kb.to)
			case "CC":
				r = strings.Compare(ka.cc, kb.cc)
			}
			if cr.Reverse {
				r = -r
			}
			if r != 0 {
				return r
			}
		}
		return compareInt(int64(msgs[a].UID), int64(msgs[b].UID))
	})
	return order
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortKeys are what SORT compares of a message (RFC 5256 §3): the base
// subject, and the mailbox part of the first address of From, To and Cc,
// in upper case.
type sortKeys struct {
	arrival, sent time.Time
	size          int64
	subject       string
	from, to, cc  string
}

// newSortKeys takes the keys of a message. Strings are compared in upper
// case, as the i;ascii-casemap comparator RFC 5256 §2.1 names maps them,
// so that "[" and "_" sort after the letters.
func newSortKeys(m core.Message) sortKeys {
	subject, _ := baseSubject(m.Subject)
	return sortKeys{
		arrival: m.InternalDate, sent: sentOrArrival(m), size: m.Size, subject: strings.ToUpper(subject),
		from: firstMailbox(m.From), to: firstMailbox(m.To), cc: firstMailbox(m.Cc),
	}
}

// firstMailbox returns the local part of the first address of a header
// value, upper case; the value itself when it holds no address.
func firstMailbox(v string) string {
	list, err := mail.ParseAddressList(v)
	if err != nil || len(list) == 0 {
		return strings.ToUpper(strings.TrimSpace(v))
	}
	local, _, _ := strings.Cut(list[0].Address, "@")
	return strings.ToUpper(local)
}

// sentOrArrival is a message's sent date, or its arrival when its Date
// header is missing or unreadable (RFC 5256 §2.2).
func sentOrArrival(m core.Message) time.Time {
	if m.Date.IsZero() {
		return m.InternalDate
	}
	return m.Date
}

// hasModSeq reports whether a search key uses MODSEQ, which turns
// CONDSTORE on (RFC 7162 §3.1).
func hasModSeq(k *SearchKey) bool {
	if k == nil {
		return false
	}
	return k.Op == "MODSEQ" || slices.ContainsFunc(k.Keys, hasModSeq)
}
