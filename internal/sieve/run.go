package sieve

import (
	"context"
	"fmt"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Message is what a script looks at: the header of the message, its
// envelope and its size.
type Message interface {
	// Header returns the values of the named field, in order, unfolded,
	// their RFC 2047 encoded words decoded (RFC 5228 §2.7.2).
	Header(name string) []string
	// Envelope returns the envelope's sender ("from", empty for the null
	// sender) or recipient ("to").
	Envelope(part string) string
	// Size is the size of the message in octets (RFC 5228 §5.9).
	Size() int64
}

// Actions is what a script decided for a message.
type Actions struct {
	// Keep files the message in the Inbox, with KeepFlags, by an explicit
	// keep or the implicit keep (RFC 5228 §2.10.2).
	Keep      bool
	KeepFlags []string
	// FileInto lists the folders to file the message in (RFC 5228 §4.1).
	FileInto []FileInto
	// Redirect lists the addresses to send the message on to
	// (RFC 5228 §4.2).
	Redirect []string
	// Reject, when Rejected, refuses the message with this reason
	// (RFC 5429).
	Reject   string
	Rejected bool
	// Discard tells that the script discarded the message (RFC 5228 §4.4):
	// with no other action, it is dropped silently.
	Discard bool
	// Vacation, when set, asks for an automatic reply (RFC 5230), which
	// the caller sends if Vacation.ReplyTo allows.
	Vacation *Vacation
}

// FileInto is one folder to file the message in, with its flags
// (RFC 5232 §5).
type FileInto struct {
	Folder string
	Flags  []string
}

// Vacation is a vacation action's parameters (RFC 5230 §4).
type Vacation struct {
	Reason    string
	Subject   string
	From      string
	Addresses []string
	Days      int
	MIME      bool
	Handle    string
}

// run is the state of one run of a script.
type run struct {
	ctx          context.Context
	msg          Message
	limits       Limits
	acts         Actions
	implicitKeep bool
	flags        []string // the internal variable of RFC 5232 §3
	count        int
	now          time.Time
}

// Run runs a script on a message and returns its actions. An error (a
// limit reached, incompatible actions, a cancelled context) means the
// caller must keep the message, as RFC 5228 §2.10.6 asks.
func Run(ctx context.Context, s *Script, msg Message) (Actions, error) {
	return RunAt(ctx, s, msg, time.Now())
}

// RunAt is Run at the given time, which currentdate sees and whose zone
// is the local zone of the date tests (RFC 5260).
func RunAt(ctx context.Context, s *Script, msg Message, now time.Time) (Actions, error) {
	r := &run{ctx: ctx, msg: msg, limits: s.limits, implicitKeep: true, now: now}
	if _, err := r.block(s.commands); err != nil {
		return Actions{}, err
	}
	if r.implicitKeep && !r.acts.Keep {
		r.acts.Keep = true
		r.acts.KeepFlags = slices.Clone(r.flags)
	}
	return r.acts, nil
}

// block runs commands and reports whether a stop was met.
func (r *run) block(cmds []*command) (bool, error) {
	for _, c := range cmds {
		if err := r.ctx.Err(); err != nil {
			return false, fmt.Errorf("sieve: %w", err)
		}
		stop, err := r.command(c)
		if err != nil || stop {
			return stop, err
		}
	}
	return false, nil
}

func (r *run) action(c *command) error {
	r.count++
	if r.count > r.limits.MaxActions {
		return errorAt(c.pos, "more than %d actions", r.limits.MaxActions)
	}
	return nil
}

// flagsFor returns a command's :flags or, without, the internal variable.
func (r *run) flagsFor(c *command) []string {
	if c.hasFlags {
		return slices.Clone(c.flags)
	}
	return slices.Clone(r.flags)
}

func (r *run) command(c *command) (bool, error) {
	switch c.kind {
	case cmdIf:
		for _, b := range c.branches {
			if b.test == nil || r.test(b.test) {
				return r.block(b.block)
			}
		}
	case cmdStop:
		return true, nil
	case cmdKeep:
		if err := r.action(c); err != nil {
			return false, err
		}
		r.implicitKeep = false
		r.acts.Keep = true
		r.acts.KeepFlags = r.flagsFor(c)
	case cmdDiscard:
		r.implicitKeep = false
		r.acts.Discard = true
	case cmdFileinto:
		if err := r.action(c); err != nil {
			return false, err
		}
		if !c.copy {
			r.implicitKeep = false
		}
		// RFC 5228 §2.10.3: filing twice in one folder files once.
		i := slices.IndexFunc(r.acts.FileInto, func(f FileInto) bool { return f.Folder == c.target })
		if i >= 0 {
			r.acts.FileInto[i].Flags = r.flagsFor(c)
		} else {
			r.acts.FileInto = append(r.acts.FileInto, FileInto{Folder: c.target, Flags: r.flagsFor(c)})
		}
	case cmdRedirect:
		if err := r.action(c); err != nil {
			return false, err
		}
		if !c.copy {
			r.implicitKeep = false
		}
		if !slices.ContainsFunc(r.acts.Redirect, func(a string) bool { return strings.EqualFold(a, c.target) }) {
			if len(r.acts.Redirect) >= r.limits.MaxRedirects {
				return false, errorAt(c.pos, "more than %d redirects", r.limits.MaxRedirects)
			}
			r.acts.Redirect = append(r.acts.Redirect, c.target)
		}
	case cmdReject:
		if err := r.action(c); err != nil {
			return false, err
		}
		// RFC 5429 §2.1: one reject per run, never with vacation.
		if r.acts.Rejected {
			return false, errorAt(c.pos, "reject may run only once")
		}
		if r.acts.Vacation != nil {
			return false, errorAt(c.pos, "reject cannot run with vacation")
		}
		r.implicitKeep = false
		r.acts.Rejected, r.acts.Reject = true, c.target
	case cmdSetflag:
		r.flags = slices.Clone(c.flags)
	case cmdAddflag:
		for _, f := range c.flags {
			if !slices.ContainsFunc(r.flags, func(o string) bool { return strings.EqualFold(o, f) }) {
				r.flags = append(r.flags, f)
			}
		}
	case cmdRemoveflag:
		r.flags = slices.DeleteFunc(r.flags, func(o string) bool {
			return slices.ContainsFunc(c.flags, func(f string) bool { return strings.EqualFold(o, f) })
		})
	case cmdVacation:
		if err := r.action(c); err != nil {
			return false, err
		}
		if r.acts.Vacation != nil {
			return false, errorAt(c.pos, "vacation may run only once")
		}
		if r.acts.Rejected {
			return false, errorAt(c.pos, "vacation cannot run with reject")
		}
		v := c.vacation
		v.Addresses = slices.Clone(v.Addresses)
		r.acts.Vacation = &v
	}
	return false, nil
}

func (r *run) test(t *test) bool {
	switch t.kind {
	case testTrue:
		return true
	case testFalse:
		return false
	case testNot:
		return !r.test(t.tests[0])
	case testAllof:
		for _, s := range t.tests {
			if !r.test(s) {
				return false
			}
		}
		return true
	case testAnyof:
		for _, s := range t.tests {
			if r.test(s) {
				return true
			}
		}
		return false
	case testExists:
		for _, name := range t.names {
			if len(r.msg.Header(name)) == 0 {
				return false
			}
		}
		return true
	case testSize:
		if t.over {
			return r.msg.Size() > t.limit
		}
		return r.msg.Size() < t.limit
	default:
		return t.matchValues(r.values(t))
	}
}

// values returns what a comparison test compares with its keys.
func (r *run) values(t *test) []string {
	var out []string
	switch t.kind {
	case testHeader:
		for _, name := range t.names {
			for _, v := range r.msg.Header(name) {
				out = append(out, strings.TrimSpace(v))
			}
		}
	case testAddress:
		for _, name := range t.names {
			if !addressFields[strings.ToLower(name)] {
				continue // RFC 5228 §5.1: only fields that hold addresses
			}
			for _, v := range r.msg.Header(name) {
				for _, a := range addresses(v) {
					out = append(out, t.partOf(a))
				}
			}
		}
	case testEnvelope:
		for _, name := range t.names {
			v := r.msg.Envelope(name)
			if t.match == matchCount && v == "" {
				continue // the null sender is no address to count
			}
			out = append(out, t.partOf(v))
		}
	case testHasflag:
		out = r.flags
	case testDate:
		for _, name := range t.names {
			for _, v := range r.msg.Header(name) {
				d, err := mail.ParseDate(strings.TrimSpace(v))
				if err != nil {
					continue // RFC 5260 §4: a date that cannot be read does not match
				}
				out = append(out, t.datePartOf(r.inZone(t, d)))
			}
		}
	case testCurrentdate:
		out = append(out, t.datePartOf(r.inZone(t, r.now)))
	case testBody:
		if bm, ok := r.msg.(BodyMessage); ok {
			out = bm.Body(t.transform, t.types)
		}
	}
	return out
}

// inZone returns d as a date test sees it: in its :zone, in its own zone
// with :originalzone, else in the local zone (RFC 5260 §4.1).
func (r *run) inZone(t *test, d time.Time) time.Time {
	switch {
	case t.zone != nil:
		return d.In(t.zone)
	case t.originalZone:
		return d
	}
	return d.In(r.now.Location())
}

// mjdEpoch is day 0 of the Modified Julian Day count (RFC 5260 §4.2).
var mjdEpoch = time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)

// datePartOf formats the part of a date the test compares (RFC 5260 §4.2).
func (t *test) datePartOf(d time.Time) string {
	switch t.datePart {
	case "year":
		return d.Format("2006")
	case "month":
		return d.Format("01")
	case "day":
		return d.Format("02")
	case "date":
		return d.Format("2006-01-02")
	case "julian":
		day := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
		return strconv.Itoa(int(day.Sub(mjdEpoch).Hours() / 24))
	case "hour":
		return d.Format("15")
	case "minute":
		return d.Format("04")
	case "second":
		return d.Format("05")
	case "time":
		return d.Format("15:04:05")
	case "iso8601":
		return d.Format("2006-01-02T15:04:05-07:00")
	case "std11":
		return d.Format("Mon, 02 Jan 2006 15:04:05 -0700")
	case "zone":
		return d.Format("-0700")
	default: // weekday
		return strconv.Itoa(int(d.Weekday()))
	}
}

// addressFields are the fields the address test reads (RFC 5228 §5.1).
var addressFields = map[string]bool{
	"from": true, "to": true, "cc": true, "bcc": true, "sender": true, "reply-to": true,
	"resent-from": true, "resent-to": true, "resent-cc": true, "resent-bcc": true, "resent-sender": true,
	"return-path": true, "delivered-to": true, "envelope-to": true, "x-original-to": true,
	"disposition-notification-to": true,
}

// addresses returns the addresses of a field's value: parsed as an address
// list, or the value itself when it cannot be.
func addresses(v string) []string {
	list, err := mail.ParseAddressList(v)
	if err == nil {
		out := make([]string, len(list))
		for i, a := range list {
			out[i] = a.Address
		}
		return out
	}
	var out []string
	for _, part := range strings.Split(v, ",") {
		if a, err := mail.ParseAddress(part); err == nil {
			out = append(out, a.Address)
		} else if p := strings.Trim(strings.TrimSpace(part), "<>"); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// partOf returns the part of an address the test compares (RFC 5228 §2.7.4).
func (t *test) partOf(a string) string {
	at := strings.LastIndexByte(a, '@')
	switch {
	case t.part == partLocal && at >= 0:
		return a[:at]
	case t.part == partDomain && at >= 0:
		return a[at+1:]
	case t.part == partDomain:
		return ""
	}
	return a
}

// matchValues tells whether values match the test's keys: with :count,
// their number does (RFC 5231 §4.2); otherwise one of them matches one
// key.
func (t *test) matchValues(values []string) bool {
	if t.match == matchCount {
		n := strconv.Itoa(len(values))
		for _, k := range t.keys {
			if t.relate(n, k) {
				return true
			}
		}
		return false
	}
	for _, v := range values {
		for _, k := range t.keys {
			if t.match1(v, k) {
				return true
			}
		}
	}
	return false
}

// match1 compares a value with a key under the test's match type and
// comparator (RFC 5228 §2.7.1, RFC 5231, RFC 4790 §9).
func (t *test) match1(v, key string) bool {
	switch t.match {
	case matchValue:
		return t.relate(v, key)
	case matchIs:
		return t.compare(v, key) == 0
	}
	if t.cmp == cmpCasemap {
		v, key = foldASCII(v), foldASCII(key)
	}
	if t.match == matchContains {
		return strings.Contains(v, key)
	}
	return glob(v, key)
}

// relate applies the test's relation to a value and a key (RFC 5231 §4).
func (t *test) relate(v, key string) bool {
	c := t.compare(v, key)
	switch t.rel {
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	case "le":
		return c <= 0
	case "eq":
		return c == 0
	default: // ne
		return c != 0
	}
}

// compare orders two strings under the test's comparator.
func (t *test) compare(a, b string) int {
	switch t.cmp {
	case cmpOctet:
		return strings.Compare(a, b)
	case cmpNumeric:
		return compareNumeric(a, b)
	}
	return strings.Compare(foldASCII(a), foldASCII(b))
}

// compareNumeric orders strings by the number their leading digits write;
// a string that does not start with a digit is larger than any number
// (RFC 4790 §9.1).
func compareNumeric(a, b string) int {
	da, db := leadingDigits(a), leadingDigits(b)
	switch {
	case da == "" && db == "":
		return 0
	case da == "":
		return 1
	case db == "":
		return -1
	}
	da, db = trimZeros(da), trimZeros(db)
	if len(da) != len(db) {
		return len(da) - len(db)
	}
	return strings.Compare(da, db)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

func trimZeros(s string) string {
	t := strings.TrimLeft(s, "0")
	if t == "" {
		return "0"
	}
	return t
}

// foldASCII lower-cases ASCII letters only, as i;ascii-casemap does.
func foldASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// glob reports whether v matches pattern, where * matches any sequence,
// ? one character, and a backslash makes the next character literal
// (RFC 5228 §2.7.1). It backtracks only to the last star, so its cost is
// at most the product of the lengths.
func glob(v, pattern string) bool {
	pi, vi := 0, 0
	starP, starV := -1, 0
	for vi < len(v) {
		if pi < len(pattern) {
			c := pattern[pi]
			switch {
			case c == '*':
				starP, starV = pi, vi
				pi++
				continue
			case c == '?':
				_, n := utf8.DecodeRuneInString(v[vi:])
				pi++
				vi += n
				continue
			case c == '\\' && pi+1 < len(pattern):
				if pattern[pi+1] == v[vi] {
					pi += 2
					vi++
					continue
				}
			case c == v[vi]:
				pi++
				vi++
				continue
			}
		}
		if starP < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(v[starV:])
		starV += n
		pi, vi = starP+1, starV
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}
