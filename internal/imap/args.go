package imap

import (
	"encoding/base64"
	"slices"
	"strings"
)

// args parses the arguments of cmd into cmd.Args, following the formal
// syntax of RFC 9051 §9 and of the extensions named beside each case.
func (p *Parser) args(cmd *Command) {
	switch cmd.Name {
	case "CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "CHECK", "CLOSE", "UNSELECT", "IDLE", "NAMESPACE":
	case "EXPUNGE":
		if cmd.UID { // RFC 9051 §6.4.9
			p.sp()
			cmd.Args = &ExpungeArgs{Set: p.numSet()}
		}
	case "LOGIN":
		cmd.Args = p.loginArgs()
	case "AUTHENTICATE":
		cmd.Args = p.authenticateArgs()
	case "SELECT", "EXAMINE":
		cmd.Args = p.selectArgs()
	case "CREATE":
		cmd.Args = p.createArgs()
	case "DELETE", "SUBSCRIBE", "UNSUBSCRIBE", "GETACL", "MYRIGHTS", "GETQUOTAROOT":
		p.sp()
		cmd.Args = &MailboxArgs{Mailbox: p.mailbox()}
	case "RENAME":
		cmd.Args = p.renameArgs()
	case "LIST":
		cmd.Args = p.listArgs()
	case "LSUB":
		a := &ListArgs{Subscribed: true}
		p.sp()
		a.Reference = p.mailbox()
		p.sp()
		a.Patterns = []string{p.listMailbox()}
		cmd.Args = a
	case "STATUS":
		a := &StatusArgs{}
		p.sp()
		a.Mailbox = p.mailbox()
		p.sp()
		a.Items = p.statusItems()
		cmd.Args = a
	case "APPEND":
		cmd.Args = p.appendArgs()
	case "FETCH":
		cmd.Args = p.fetchArgs(cmd.UID)
	case "STORE":
		cmd.Args = p.storeArgs()
	case "COPY", "MOVE":
		a := &CopyArgs{}
		p.sp()
		a.Set = p.numSet()
		p.sp()
		a.Mailbox = p.mailbox()
		cmd.Args = a
	case "SEARCH":
		cmd.Args = p.searchArgs()
	case "SORT":
		cmd.Args = p.sortArgs()
	case "THREAD":
		cmd.Args = p.threadArgs()
	case "ENABLE": // RFC 5161 §3.1
		a := &EnableArgs{}
		p.sp()
		a.Caps = append(a.Caps, strings.ToUpper(p.atom()))
		for p.err == nil && p.take(' ') {
			a.Caps = append(a.Caps, strings.ToUpper(p.atom()))
		}
		cmd.Args = a
	case "ID":
		cmd.Args = p.idArgs()
	case "NOTIFY":
		cmd.Args = p.notifyArgs()
	case "CANCELUPDATE":
		cmd.Args = p.cancelUpdateArgs()
	case "SETACL", "DELETEACL", "LISTRIGHTS": // RFC 4314 §3
		a := &ACLArgs{}
		p.sp()
		a.Mailbox = p.mailbox()
		p.sp()
		a.Identifier = p.astring()
		if cmd.Name == "SETACL" {
			p.sp()
			a.Rights = p.astring()
		}
		cmd.Args = a
	case "GETQUOTA", "SETQUOTA": // RFC 9208 §4.2, §4.4
		a := &QuotaArgs{}
		p.sp()
		a.Root = p.astring()
		if cmd.Name == "SETQUOTA" {
			p.sp()
			a.Limits = map[string]int64{}
			p.parenList(func() {
				res := strings.ToUpper(p.atom())
				p.sp()
				a.Limits[res] = int64(p.number64())
			})
		}
		cmd.Args = a
	default:
		p.fail("unknown command %s", cmd.Name)
	}
}

// loginArgs: "LOGIN" SP userid SP password (RFC 9051 §6.2.3).
func (p *Parser) loginArgs() *LoginArgs {
	a := &LoginArgs{}
	p.sp()
	a.Username = p.astring()
	p.sp()
	a.Password = p.astring()
	return a
}

// renameArgs: "RENAME" SP mailbox SP mailbox (RFC 9051 §6.3.6).
func (p *Parser) renameArgs() *RenameArgs {
	a := &RenameArgs{}
	p.sp()
	a.From = p.mailbox()
	p.sp()
	a.To = p.mailbox()
	return a
}

// authenticateArgs: "AUTHENTICATE" SP auth-type [SP (base64 / "=")]
// (RFC 9051 §6.2.2, SASL-IR RFC 4959 §3).
func (p *Parser) authenticateArgs() *AuthenticateArgs {
	a := &AuthenticateArgs{}
	p.sp()
	a.Mechanism = strings.ToUpper(p.atom())
	if p.take(' ') {
		a.HasInitial = true
		if p.take('=') {
			a.InitialResponse = []byte{}
			return a
		}
		enc := p.chars(isBase64Char, "base64")
		b, err := base64.StdEncoding.DecodeString(enc)
		if err != nil && p.err == nil {
			p.fail("bad base64 in initial response")
		}
		a.InitialResponse = b
	}
	return a
}

func isBase64Char(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || isDigit(c) || c == '+' || c == '/' || c == '='
}

// selectArgs: mailbox [SP "(" select-param *(SP select-param) ")"]
// (RFC 7162 §3.1.8 CONDSTORE, §3.2.5 QRESYNC).
func (p *Parser) selectArgs() *SelectArgs {
	a := &SelectArgs{}
	p.sp()
	a.Mailbox = p.mailbox()
	if !p.take(' ') {
		return a
	}
	p.parenList(func() {
		switch {
		case p.takeWord("CONDSTORE"):
			a.CondStore = true
		case p.takeWord("QRESYNC"):
			q := &QResyncArgs{}
			p.sp()
			p.expect('(')
			q.UIDValidity = p.nzNumber()
			p.sp()
			q.ModSeq = p.number64()
			if p.take(' ') && p.peek() != '(' {
				q.KnownUIDs = p.numSet()
				p.take(' ')
			}
			if p.take('(') {
				q.MatchSeqs = p.numSet()
				p.sp()
				q.MatchUIDs = p.numSet()
				p.expect(')')
			}
			p.expect(')')
			a.QResync = q
		default:
			p.fail("unknown SELECT parameter at %q", p.rest())
		}
	})
	return a
}

// createArgs: mailbox [SP "(" "USE" SP "(" use-attr... ")" ")"]
// (RFC 6154 §3 CREATE-SPECIAL-USE).
func (p *Parser) createArgs() *CreateArgs {
	a := &CreateArgs{}
	p.sp()
	a.Mailbox = p.mailbox()
	if !p.take(' ') {
		return a
	}
	p.parenList(func() {
		if !p.takeWord("USE") {
			p.fail("unknown CREATE parameter at %q", p.rest())
			return
		}
		p.sp()
		a.SpecialUse = append(a.SpecialUse, p.flagList()...)
	})
	return a
}

// listArgs: "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
// [SP list-return-opts] (RFC 5258 §3, RFC 5819 §2, RFC 6154 §5.1).
func (p *Parser) listArgs() *ListArgs {
	a := &ListArgs{}
	p.sp()
	if p.peek() == '(' {
		a.Extended = true
		p.parenList(func() {
			switch {
			case p.takeWord("SUBSCRIBED"):
				a.Subscribed = true
			case p.takeWord("REMOTE"):
				a.Remote = true
			case p.takeWord("RECURSIVEMATCH"):
				a.RecursiveMatch = true
			case p.takeWord("SPECIAL-USE"):
				a.SpecialUseOnly = true
			default:
				p.fail("unknown LIST selection option at %q", p.rest())
			}
		})
		// RFC 5258 §3.1: RECURSIVEMATCH needs another option to qualify.
		if a.RecursiveMatch && !a.Subscribed && !a.SpecialUseOnly {
			p.fail("RECURSIVEMATCH needs another selection option")
		}
		p.sp()
	}
	a.Reference = p.mailbox()
	p.sp()
	if p.peek() == '(' {
		a.Extended = true
		p.parenList(func() { a.Patterns = append(a.Patterns, p.listMailbox()) })
	} else {
		a.Patterns = []string{p.listMailbox()}
	}
	if !p.take(' ') {
		return a
	}
	if !p.takeWord("RETURN") {
		p.fail("expected RETURN at %q", p.rest())
		return a
	}
	a.Extended = true
	p.sp()
	p.parenList(func() {
		switch {
		case p.takeWord("SUBSCRIBED"):
			a.ReturnSubscribe = true
		case p.takeWord("CHILDREN"):
			a.ReturnChildren = true
		case p.takeWord("SPECIAL-USE"):
			a.ReturnSpecial = true
		case p.takeWord("STATUS"):
			p.sp()
			a.ReturnStatus = p.statusItems()
		default:
			p.fail("unknown LIST return option at %q", p.rest())
		}
	})
	return a
}

// notifyArgs: "NONE" / "SET" [SP "STATUS"] SP event-group *(SP
// event-group) (RFC 5465 §8). What the RFC answers BAD is refused here;
// events this server lacks are left to the door (NO [BADEVENT]).
func (p *Parser) notifyArgs() *NotifyArgs {
	a := &NotifyArgs{}
	p.sp()
	if p.takeWord("NONE") {
		a.None = true
		return a
	}
	if !p.takeWord("SET") {
		p.fail("expected SET or NONE at %q", p.rest())
		return a
	}
	p.sp()
	if p.takeWord("STATUS") {
		a.Status = true
		p.sp()
	}
	a.Groups = append(a.Groups, p.notifyGroup())
	for p.err == nil && p.take(' ') {
		a.Groups = append(a.Groups, p.notifyGroup())
	}
	return a
}

// notifyGroup: "(" filter-mailboxes SP events ")" (RFC 5465 §6, §8),
// with the rules of §5: MessageNew and MessageExpunge go together,
// FlagChange and AnnotationChange need them, the selected filters take
// message events only, and only they take MessageNew's fetch-atts.
func (p *Parser) notifyGroup() NotifyGroup {
	var g NotifyGroup
	p.expect('(')
	g.Filter = strings.ToUpper(p.atom())
	switch g.Filter {
	case "SELECTED", "SELECTED-DELAYED", "PERSONAL", "INBOXES", "SUBSCRIBED":
	case "SUBTREE", "MAILBOXES":
		p.sp()
		if p.peek() == '(' {
			p.parenList(func() { g.Mailboxes = append(g.Mailboxes, p.mailbox()) })
		} else {
			g.Mailboxes = []string{p.mailbox()}
		}
		if len(g.Mailboxes) == 0 && p.err == nil {
			p.fail("%s needs at least one mailbox", g.Filter)
		}
	default:
		if p.err == nil {
			p.fail("unknown NOTIFY filter %s", g.Filter)
		}
	}
	p.sp()
	if p.takeWord("NONE") {
		p.expect(')')
		return g
	}
	selected := strings.HasPrefix(g.Filter, "SELECTED")
	p.parenList(func() {
		ev := notifyEvent(p.atom())
		g.Events = append(g.Events, ev)
		switch ev {
		case "MessageNew":
			if p.pos+1 < len(p.line) && p.line[p.pos] == ' ' && p.line[p.pos+1] == '(' {
				if !selected {
					p.fail("fetch attributes are for the selected mailbox only")
					return
				}
				p.sp()
				p.parenList(func() { g.Fetch = append(g.Fetch, p.fetchItem()) })
				if len(g.Fetch) == 0 && p.err == nil {
					p.fail("MessageNew needs at least one fetch attribute")
				}
			}
		case "MailboxName", "SubscriptionChange", "MailboxMetadataChange", "ServerMetadataChange":
			if selected && p.err == nil {
				p.fail("%s is not a message event", ev)
			}
		}
	})
	p.expect(')')
	if p.err != nil {
		return g
	}
	has := func(ev string) bool { return slices.Contains(g.Events, ev) }
	switch {
	case len(g.Events) == 0:
		p.fail("an event group needs events or NONE")
	case has("MessageNew") != has("MessageExpunge"):
		p.fail("MessageNew and MessageExpunge go together")
	case (has("FlagChange") || has("AnnotationChange")) && !has("MessageNew"):
		p.fail("FlagChange and AnnotationChange need MessageNew and MessageExpunge")
	}
	return g
}

// notifyEvent spells an event name as RFC 5465 §8 does; an unknown
// event stays as sent.
func notifyEvent(name string) string {
	for _, ev := range []string{"MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange",
		"MailboxName", "SubscriptionChange", "MailboxMetadataChange", "ServerMetadataChange"} {
		if strings.EqualFold(name, ev) {
			return ev
		}
	}
	return name
}

// statusItems: "(" status-att *(SP status-att) ")" (RFC 9051 §6.3.11,
// RFC 7162 §3.1.9 HIGHESTMODSEQ, RFC 7889 APPENDLIMIT).
func (p *Parser) statusItems() []string {
	items := []string{}
	p.parenList(func() {
		item := strings.ToUpper(p.atom())
		switch item {
		case "MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "RECENT", "HIGHESTMODSEQ", "APPENDLIMIT":
			items = append(items, item)
		default:
			if p.err == nil {
				p.fail("unknown STATUS item %s", item)
			}
		}
	})
	if len(items) == 0 && p.err == nil {
		p.fail("STATUS needs at least one item")
	}
	return items
}

// appendArgs: mailbox SP append-message (RFC 9051 §6.3.12); the other
// messages of a MULTIAPPEND come with Parser.NextAppend.
func (p *Parser) appendArgs() *AppendArgs {
	a := &AppendArgs{}
	p.sp()
	a.Mailbox = p.mailbox()
	p.sp()
	p.appending = true
	a.First = p.appendMessage()
	return a
}

// appendMessage: [flag-list SP] [date-time SP] (literal / literal8 /
// "UTF8" SP "(" literal8 ")" / "CATENATE" SP "(" ...) (RFC 9051 §6.3.12,
// RFC 3516 §4.2, RFC 6855 §4, RFC 4469 §5). The message, or the first part
// of a CATENATE, is left on the connection.
func (p *Parser) appendMessage() *AppendMessage {
	m := &AppendMessage{}
	if p.peek() == '(' {
		m.Flags = p.flagList()
		p.sp()
	}
	if p.peek() == '"' {
		m.Date = p.dateTime()
		p.sp()
	}
	if p.takeWord("CATENATE") {
		p.sp()
		p.expect('(')
		m.Catenate, p.catParts = true, 0
		return m
	}
	utf8 := false
	if p.takeWord("UTF8") {
		utf8 = true
		p.sp()
		p.expect('(')
		if p.peek() != '~' {
			p.fail("UTF8 APPEND needs a literal8")
		}
	}
	m.Message = p.messageLiteral(utf8)
	return m
}

// messageLiteral reads the header of a literal streamed to the door: an
// APPEND message or a CATENATE text part.
func (p *Parser) messageLiteral(utf8 bool) *Literal {
	n, sync, binary := p.literalHeader()
	if p.err != nil {
		return nil
	}
	if n > p.limits.MaxMessage {
		// RFC 7889 §4: the server may reject a too large message with TOOBIG.
		p.failCode("NO", "TOOBIG", "message too large", !sync)
		return nil
	}
	lr := &literalReader{p: p, remaining: n, sync: sync, utf8: utf8}
	p.lit = lr
	return &Literal{Size: n, Sync: sync, Binary: binary, r: lr}
}

// NextAppend reads what follows the APPEND message the door has just read
// to its end: nil at the end of the command, or the next message of a
// MULTIAPPEND (RFC 3502 §6.3.11). An error is a *ParseError to answer, or
// the connection's.
func (p *Parser) NextAppend() (*AppendMessage, error) {
	if p.pos == len(p.line) {
		p.appending, p.lit = false, nil
		return nil, nil
	}
	p.sp()
	m := p.appendMessage()
	if p.err != nil {
		return nil, p.abortAppend()
	}
	return m, nil
}

// NextCatPart reads the next part of a CATENATE, after the door has read
// the previous text part to its end: nil after the last (RFC 4469 §5:
// cat-part = "TEXT" SP literal / "URL" SP astring).
func (p *Parser) NextCatPart() (*CatPart, error) {
	if p.catParts > 0 && p.take(')') {
		return nil, nil
	}
	if p.catParts > 0 {
		p.sp()
	}
	p.catParts++
	part := &CatPart{}
	switch {
	case p.takeWord("TEXT"):
		p.sp()
		part.Text = p.messageLiteral(false)
	case p.takeWord("URL"):
		p.sp()
		part.URL = p.astring()
	default:
		p.fail("CATENATE needs TEXT or URL parts")
	}
	if p.err != nil {
		return nil, p.abortAppend()
	}
	return part, nil
}

// abortAppend ends an APPEND whose syntax failed after its first message,
// skipping what the client still sends of it.
func (p *Parser) abortAppend() error {
	p.appending = false
	if p.lit != nil && p.lit.done {
		p.lit = nil
	}
	err := p.recover()
	p.err = nil
	return err
}

// fetchArgs: sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
// "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers] (RFC 9051 §6.4.5,
// RFC 7162 §3.1.4 CHANGEDSINCE, §3.2.6 VANISHED).
func (p *Parser) fetchArgs(uid bool) *FetchArgs {
	a := &FetchArgs{}
	p.sp()
	a.Set = p.numSet()
	p.sp()
	switch {
	case p.takeWord("ALL"):
		a.Items = macroItems("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE")
	case p.takeWord("FAST"):
		a.Items = macroItems("FLAGS", "INTERNALDATE", "RFC822.SIZE")
	case p.takeWord("FULL"):
		a.Items = macroItems("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY")
	case p.peek() == '(':
		p.parenList(func() { a.Items = append(a.Items, p.fetchItem()) })
		if len(a.Items) == 0 && p.err == nil {
			p.fail("FETCH needs at least one item")
		}
	default:
		a.Items = []FetchItem{p.fetchItem()}
	}
	if !p.take(' ') {
		return a
	}
	changed := false
	p.parenList(func() {
		switch {
		case p.takeWord("CHANGEDSINCE"):
			p.sp()
			a.ChangedSince = p.number64()
			changed = true
		case p.takeWord("VANISHED"):
			a.Vanished = true
		default:
			p.fail("unknown FETCH modifier at %q", p.rest())
		}
	})
	if a.Vanished && (!uid || !changed) {
		p.fail("VANISHED needs UID FETCH and CHANGEDSINCE")
	}
	return a
}

func macroItems(names ...string) []FetchItem {
	items := make([]FetchItem, len(names))
	for i, n := range names {
		items[i] = FetchItem{Name: n}
	}
	return items
}

// storeArgs: sequence-set [SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer
// ")"] SP store-att-flags (RFC 9051 §6.4.6, RFC 7162 §3.1.3).
func (p *Parser) storeArgs() *StoreArgs {
	a := &StoreArgs{Op: '='}
	p.sp()
	a.Set = p.numSet()
	p.sp()
	if p.peek() == '(' {
		p.parenList(func() {
			if !p.takeWord("UNCHANGEDSINCE") {
				p.fail("unknown STORE modifier at %q", p.rest())
				return
			}
			p.sp()
			a.UnchangedSince = p.number64()
			a.HasUnchanged = true
		})
		p.sp()
	}
	if c := p.peek(); c == '+' || c == '-' {
		a.Op = c
		p.pos++
	}
	switch {
	case p.takeWord("FLAGS.SILENT"):
		a.Silent = true
	case p.takeWord("FLAGS"):
	default:
		p.fail("expected FLAGS at %q", p.rest())
	}
	p.sp()
	if p.peek() == '(' {
		a.Flags = p.flagList()
		return a
	}
	a.Flags = []string{p.flag()}
	for p.err == nil && p.take(' ') {
		a.Flags = append(a.Flags, p.flag())
	}
	return a
}

// searchArgs: [SP search-return-opts] [SP "CHARSET" SP charset]
// 1*(SP search-key) (RFC 9051 §6.4.4, RFC 4731 ESEARCH, RFC 5182 SAVE,
// RFC 5267 §4 PARTIAL and UPDATE).
func (p *Parser) searchArgs() *SearchArgs {
	a := &SearchArgs{}
	p.sp()
	if p.takeWord("RETURN") {
		p.searchReturn(a, false)
		p.sp()
	}
	if p.takeWord("CHARSET") {
		p.sp()
		a.Charset = strings.ToUpper(p.astring())
		p.sp()
	}
	a.Key = p.searchKeys()
	return a
}

// searchReturn reads the list of search-return-opts after "RETURN"
// (RFC 4731 §3.1, RFC 5182, RFC 5267 §4.2, §4.4): MIN, MAX, ALL, COUNT,
// SAVE, UPDATE and "PARTIAL" SP partial-range. SORT's list (ESORT,
// RFC 5267 §3) has no UPDATE here: sort contexts are not kept
// (no CONTEXT=SORT).
func (p *Parser) searchReturn(a *SearchArgs, sort bool) {
	a.HasReturn = true
	a.Return = []string{}
	p.sp()
	p.parenList(func() {
		opt := strings.ToUpper(p.atom())
		switch {
		case opt == "MIN" || opt == "MAX" || opt == "ALL" || opt == "COUNT" || opt == "SAVE":
		case !sort && opt == "UPDATE":
			if a.Update && p.err == nil {
				p.fail("UPDATE given twice")
			}
			a.Update = true
		case opt == "PARTIAL":
			if a.Partial != nil && p.err == nil {
				p.fail("PARTIAL given twice")
			}
			p.sp()
			a.Partial = p.partialRange()
		default:
			if p.err == nil {
				p.fail("unknown %s return option %s", map[bool]string{false: "SEARCH", true: "SORT"}[sort], opt)
			}
		}
		a.Return = append(a.Return, opt)
	})
	if a.Partial != nil && slices.Contains(a.Return, "ALL") && p.err == nil {
		p.fail("PARTIAL and ALL cannot be asked together")
	}
}

// partialRange reads nz-number ":" nz-number, the positions of a PARTIAL
// return option (RFC 5267 §4.4), in either order; it returns them lowest
// first.
func (p *Parser) partialRange() *NumRange {
	low := p.nzNumber()
	p.expect(':')
	high := p.nzNumber()
	if low > high {
		low, high = high, low
	}
	return &NumRange{Start: low, Stop: high}
}

// sortArgs: [search-return-opts SP] sort-criteria SP charset
// 1*(SP search-key) (RFC 5256 §3, RFC 5267 §3 ESORT).
func (p *Parser) sortArgs() *SearchArgs {
	a := &SearchArgs{}
	p.sp()
	if p.takeWord("RETURN") {
		p.searchReturn(a, true)
		p.sp()
	}
	p.parenList(func() {
		var c SortCriterion
		if p.takeWord("REVERSE") {
			c.Reverse = true
			p.sp()
		}
		c.Key = strings.ToUpper(p.atom())
		switch c.Key {
		case "ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO":
		default:
			if p.err == nil {
				p.fail("unknown SORT criterion %s", c.Key)
			}
		}
		a.Criteria = append(a.Criteria, c)
	})
	if len(a.Criteria) == 0 && p.err == nil {
		p.fail("SORT needs at least one criterion")
	}
	p.sp()
	a.Charset = strings.ToUpper(p.astring())
	p.sp()
	a.Key = p.searchKeys()
	return a
}

// cancelUpdateArgs: "CANCELUPDATE" 1*(SP quoted) (RFC 5267 §4.3).
func (p *Parser) cancelUpdateArgs() *CancelUpdateArgs {
	a := &CancelUpdateArgs{}
	p.sp()
	a.Tags = append(a.Tags, p.quoted())
	for p.err == nil && p.take(' ') {
		a.Tags = append(a.Tags, p.quoted())
	}
	return a
}

// threadArgs: thread-alg SP search-charset 1*(SP search-key)
// (RFC 5256 §3).
func (p *Parser) threadArgs() *SearchArgs {
	a := &SearchArgs{}
	p.sp()
	a.Algorithm = strings.ToUpper(p.atom())
	p.sp()
	a.Charset = strings.ToUpper(p.astring())
	p.sp()
	a.Key = p.searchKeys()
	return a
}

// idArgs: "(" [string SP nstring *(SP string SP nstring)] ")" / nil
// (RFC 2971 §3.1, at most 30 pairs).
func (p *Parser) idArgs() *IDArgs {
	a := &IDArgs{}
	p.sp()
	if p.takeWord("NIL") {
		return a
	}
	a.Fields = [][2]string{}
	p.parenList(func() {
		k := p.str()
		p.sp()
		v, _ := p.nstring()
		a.Fields = append(a.Fields, [2]string{k, v})
		if len(a.Fields) > 30 {
			p.fail("too many ID fields")
		}
	})
	return a
}
