package sieve

import (
	"errors"
	"maps"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// extensions lists the capabilities this implementation has, as a script
// names them in require and ManageSieve announces them in SIEVE.
var extensions = []string{
	"comparator-i;ascii-casemap",
	"comparator-i;ascii-numeric",
	"comparator-i;octet",
	"body",
	"copy",
	"date",
	"envelope",
	"fileinto",
	"imap4flags",
	"reject",
	"relational",
	"vacation",
}

// Extensions returns the capabilities a script may require, sorted.
func Extensions() []string { return slices.Clone(extensions) }

// Limits bound what one script may cost.
type Limits struct {
	// MaxSize is the largest script, in bytes.
	MaxSize int
	// MaxDepth bounds the nesting of blocks and of tests.
	MaxDepth int
	// MaxActions bounds the actions one run may take.
	MaxActions int
	// MaxRedirects bounds the redirects one run may take (RFC 5228 §4.2
	// asks for a limit).
	MaxRedirects int
}

// DefaultLimits are the limits Parse applies.
var DefaultLimits = Limits{MaxSize: 64 << 10, MaxDepth: 16, MaxActions: 32, MaxRedirects: 4}

// Script is a parsed and checked Sieve script, ready to Run.
type Script struct {
	commands []*command
	limits   Limits
}

type cmdKind int

const (
	cmdIf cmdKind = iota
	cmdStop
	cmdKeep
	cmdDiscard
	cmdFileinto
	cmdRedirect
	cmdReject
	cmdSetflag
	cmdAddflag
	cmdRemoveflag
	cmdVacation
)

// command is a checked command.
type command struct {
	pos      Pos
	kind     cmdKind
	branches []branch // if, elsif…, else
	target   string   // fileinto's folder, redirect's address, reject's reason
	flags    []string // keep and fileinto :flags, setflag, addflag, removeflag
	hasFlags bool
	copy     bool
	vacation Vacation
}

// branch is one arm of an if: its test (nil for else) and its block.
type branch struct {
	test  *test
	block []*command
}

type testKind int

const (
	testTrue testKind = iota
	testFalse
	testNot
	testAllof
	testAnyof
	testExists
	testHeader
	testAddress
	testEnvelope
	testSize
	testHasflag
	testDate
	testCurrentdate
	testBody
)

type matchType int

const (
	matchIs matchType = iota
	matchContains
	matchMatches
	matchValue // RFC 5231 :value
	matchCount // RFC 5231 :count
)

// comparator is how values compare (RFC 4790 §9).
type comparator int

const (
	cmpCasemap comparator = iota
	cmpOctet
	cmpNumeric
)

type addressPart int

const (
	partAll addressPart = iota
	partLocal
	partDomain
)

// test is a checked test.
type test struct {
	pos   Pos
	kind  testKind
	tests []*test
	names []string // header names, envelope parts
	keys  []string
	match matchType
	rel   string // :value and :count's relation: gt, ge, lt, le, eq, ne
	cmp   comparator
	part  addressPart
	over  bool
	limit int64
	// date and currentdate (RFC 5260): the part compared, and the zone
	// the date is seen in (nil: the local zone; originalZone: the
	// header's own).
	datePart     string
	zone         *time.Location
	originalZone bool
	// body (RFC 5173): the transform (raw, text, content) and its types.
	transform string
	types     []string
}

// Parse reads and checks a script under DefaultLimits. Its errors are
// *Error values that say where, in words a person can act on.
func Parse(src []byte) (*Script, error) { return ParseLimits(src, DefaultLimits) }

// ParseLimits is Parse under the given limits.
func ParseLimits(src []byte, limits Limits) (*Script, error) {
	if len(src) > limits.MaxSize {
		return nil, errorAt(Pos{1, 1}, "script is %d bytes, more than the limit of %d", len(src), limits.MaxSize)
	}
	if !utf8.Valid(src) {
		return nil, errorAt(Pos{1, 1}, "script is not valid UTF-8")
	}
	p := &parser{lx: newLexer(string(src)), limits: limits}
	if err := p.advance(); err != nil {
		return nil, err
	}
	nodes, err := p.commands(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, errorAt(p.tok.pos, "unexpected } with no block open")
	}
	c := &checker{required: map[string]bool{}}
	cmds, err := c.block(nodes, true)
	if err != nil {
		return nil, err
	}
	return &Script{commands: cmds, limits: limits}, nil
}

// checker gives nodes their meaning.
type checker struct {
	required map[string]bool
}

func (c *checker) need(n *node, ext string) error {
	if !c.required[ext] {
		return errorAt(n.pos, "%s needs require %q at the top of the script", n.name, ext)
	}
	return nil
}

// block checks a list of commands; top tells whether require may appear.
func (c *checker) block(nodes []*node, top bool) ([]*command, error) {
	var out []*command
	requireOK := top
	for i := 0; i < len(nodes); i++ {
		n := nodes[i]
		if n.name == "require" {
			if !requireOK {
				return nil, errorAt(n.pos, "require must come before any other command (RFC 5228 §3.2)")
			}
			if err := c.require(n); err != nil {
				return nil, err
			}
			continue
		}
		requireOK = false
		if n.name == "if" {
			cmd, next, err := c.ifChain(nodes, i)
			if err != nil {
				return nil, err
			}
			out = append(out, cmd)
			i = next - 1
			continue
		}
		if n.name == "elsif" || n.name == "else" {
			return nil, errorAt(n.pos, "%s without a preceding if", n.name)
		}
		cmd, err := c.action(n)
		if err != nil {
			return nil, err
		}
		out = append(out, cmd)
	}
	return out, nil
}

func (c *checker) require(n *node) error {
	if len(n.args) != 1 || n.args[0].kind != tokString || len(n.tests) > 0 || n.hasBlock {
		return errorAt(n.pos, "require takes one string or string list")
	}
	for _, ext := range n.args[0].strs {
		if !slices.Contains(extensions, ext) {
			return errorAt(n.args[0].pos, "extension %q is not supported; supported: %s", ext, strings.Join(extensions, ", "))
		}
		c.required[ext] = true
	}
	return nil
}

// ifChain checks an if at nodes[i] with its elsif and else, and returns
// the index after them.
func (c *checker) ifChain(nodes []*node, i int) (*command, int, error) {
	cmd := &command{pos: nodes[i].pos, kind: cmdIf}
	for ; i < len(nodes); i++ {
		n := nodes[i]
		if len(cmd.branches) > 0 && n.name != "elsif" && n.name != "else" {
			break
		}
		if !n.hasBlock {
			return nil, 0, errorAt(n.pos, "%s needs a block in braces", n.name)
		}
		var b branch
		if n.name == "else" {
			if len(n.args) > 0 || len(n.tests) > 0 {
				return nil, 0, errorAt(n.pos, "else takes no test")
			}
		} else {
			if len(n.args) > 0 || len(n.tests) != 1 {
				return nil, 0, errorAt(n.pos, "%s takes exactly one test", n.name)
			}
			t, err := c.test(n.tests[0])
			if err != nil {
				return nil, 0, err
			}
			b.test = t
		}
		block, err := c.block(n.block, false)
		if err != nil {
			return nil, 0, err
		}
		b.block = block
		cmd.branches = append(cmd.branches, b)
		if n.name == "else" {
			i++
			break
		}
	}
	return cmd, i, nil
}

// tagSpec says what a tag takes: its group (tags of one group exclude each
// other) and its parameter, if any.
type tagSpec struct {
	group string
	param tokenKind // 0 for none, tokNumber or tokString
	ext   string    // the extension it needs, if any
}

// tagged is the tags an argument list held, by group, and its positional
// arguments.
type tagged struct {
	tags map[string]argument // the tag itself; its parameter in param
	par  map[string]argument
	pos  []argument
}

func (t tagged) has(group string) bool { _, ok := t.tags[group]; return ok }

func (c *checker) tags(n *node, spec map[string]tagSpec) (tagged, error) {
	out := tagged{tags: map[string]argument{}, par: map[string]argument{}}
	for i := 0; i < len(n.args); i++ {
		a := n.args[i]
		if a.kind != tokTag {
			out.pos = append(out.pos, a)
			continue
		}
		if len(out.pos) > 0 {
			return out, errorAt(a.pos, "tag :%s must come before the other arguments of %s", a.tag, n.name)
		}
		s, ok := spec[a.tag]
		if !ok {
			return out, errorAt(a.pos, "%s has no tag :%s", n.name, a.tag)
		}
		if s.ext != "" && !c.required[s.ext] {
			return out, errorAt(a.pos, ":%s needs require %q at the top of the script", a.tag, s.ext)
		}
		group := s.group
		if group == "" {
			group = a.tag
		}
		if prev, dup := out.tags[group]; dup {
			return out, errorAt(a.pos, "tag :%s conflicts with :%s given before", a.tag, prev.tag)
		}
		out.tags[group] = a
		if s.param != 0 {
			if i+1 >= len(n.args) || n.args[i+1].kind != s.param {
				return out, errorAt(a.pos, "tag :%s needs a %s after it", a.tag, s.param)
			}
			i++
			out.par[group] = n.args[i]
		}
	}
	return out, nil
}

// positional checks that an argument list holds kinds, in order.
func positional(n *node, args []argument, want ...tokenKind) error {
	if len(args) != len(want) {
		return errorAt(n.pos, "%s takes %d argument(s) besides its tags, found %d", n.name, len(want), len(args))
	}
	for i, k := range want {
		if args[i].kind != k {
			return errorAt(args[i].pos, "argument %d of %s must be a %s", i+1, n.name, k)
		}
	}
	return nil
}

func singleString(n *node, a argument, what string) (string, error) {
	if len(a.strs) != 1 {
		return "", errorAt(a.pos, "%s of %s must be one string, not a list", what, n.name)
	}
	return a.strs[0], nil
}

var actionTags = map[string]map[string]tagSpec{
	"keep":     {"flags": {param: tokString, ext: "imap4flags"}},
	"fileinto": {"flags": {param: tokString, ext: "imap4flags"}, "copy": {ext: "copy"}},
	"redirect": {"copy": {ext: "copy"}},
	"vacation": {
		"days":      {param: tokNumber},
		"subject":   {param: tokString},
		"from":      {param: tokString},
		"addresses": {param: tokString},
		"mime":      {},
		"handle":    {param: tokString},
	},
}

// action checks a command other than require and if.
func (c *checker) action(n *node) (*command, error) {
	if n.hasBlock {
		return nil, errorAt(n.pos, "%s takes no block", n.name)
	}
	if len(n.tests) > 0 {
		return nil, errorAt(n.tests[0].pos, "%s takes no test", n.name)
	}
	switch n.name {
	case "stop", "keep", "discard", "fileinto", "redirect", "reject", "setflag", "addflag", "removeflag", "vacation":
	default:
		return nil, errorAt(n.pos, "unknown command %q", n.name)
	}
	cmd := &command{pos: n.pos}
	t, err := c.tags(n, actionTags[n.name])
	if err != nil {
		return nil, err
	}
	if t.has("flags") {
		cmd.flags, cmd.hasFlags = splitFlags(t.par["flags"].strs), true
	}
	cmd.copy = t.has("copy")
	switch n.name {
	case "stop", "keep", "discard":
		cmd.kind = map[string]cmdKind{"stop": cmdStop, "keep": cmdKeep, "discard": cmdDiscard}[n.name]
		return cmd, positional(n, t.pos)
	case "fileinto":
		if err := c.need(n, "fileinto"); err != nil {
			return nil, err
		}
		cmd.kind = cmdFileinto
		if err := positional(n, t.pos, tokString); err != nil {
			return nil, err
		}
		if cmd.target, err = singleString(n, t.pos[0], "the folder"); err != nil {
			return nil, err
		}
		if strings.TrimSpace(cmd.target) == "" {
			return nil, errorAt(t.pos[0].pos, "fileinto needs a folder name")
		}
		return cmd, nil
	case "redirect":
		cmd.kind = cmdRedirect
		if err := positional(n, t.pos, tokString); err != nil {
			return nil, err
		}
		s, err := singleString(n, t.pos[0], "the address")
		if err != nil {
			return nil, err
		}
		// RFC 5228 §4.2: the address must be checked when the script is.
		a, err := mail.ParseAddress(s)
		if err != nil {
			return nil, errorAt(t.pos[0].pos, "redirect: %q is not a valid address", s)
		}
		cmd.target = a.Address
		return cmd, nil
	case "reject":
		if err := c.need(n, "reject"); err != nil {
			return nil, err
		}
		cmd.kind = cmdReject
		if err := positional(n, t.pos, tokString); err != nil {
			return nil, err
		}
		cmd.target, err = singleString(n, t.pos[0], "the reason")
		return cmd, err
	case "setflag", "addflag", "removeflag":
		if err := c.need(n, "imap4flags"); err != nil {
			return nil, err
		}
		cmd.kind = map[string]cmdKind{"setflag": cmdSetflag, "addflag": cmdAddflag, "removeflag": cmdRemoveflag}[n.name]
		if err := positional(n, t.pos, tokString); err != nil {
			return nil, err
		}
		cmd.flags = splitFlags(t.pos[0].strs)
		return cmd, nil
	default: // vacation
		if err := c.need(n, "vacation"); err != nil {
			return nil, err
		}
		cmd.kind = cmdVacation
		return cmd, c.vacation(n, t, &cmd.vacation)
	}
}

// Bounds of vacation's :days (RFC 5230 §4.1 lets a site set them).
const (
	MinVacationDays     = 1
	MaxVacationDays     = 365
	DefaultVacationDays = 7
)

func (c *checker) vacation(n *node, t tagged, v *Vacation) error {
	if err := positional(n, t.pos, tokString); err != nil {
		return err
	}
	var err error
	if v.Reason, err = singleString(n, t.pos[0], "the reason"); err != nil {
		return err
	}
	v.Days = DefaultVacationDays
	if a, ok := t.par["days"]; ok {
		v.Days = int(min(max(a.num, MinVacationDays), MaxVacationDays))
	}
	if a, ok := t.par["subject"]; ok {
		if v.Subject, err = singleString(n, a, ":subject"); err != nil {
			return err
		}
	}
	if a, ok := t.par["from"]; ok {
		s, err := singleString(n, a, ":from")
		if err != nil {
			return err
		}
		// RFC 5230 §4.4: a :from that is not an address is an error.
		if _, err := mail.ParseAddress(s); err != nil {
			return errorAt(a.pos, "vacation :from %q is not a valid address", s)
		}
		v.From = s
	}
	if a, ok := t.par["addresses"]; ok {
		v.Addresses = a.strs
	}
	if a, ok := t.par["handle"]; ok {
		if v.Handle, err = singleString(n, a, ":handle"); err != nil {
			return err
		}
	}
	v.MIME = t.has("mime")
	return nil
}

// splitFlags splits flag lists: each string may hold several flags
// separated by spaces (RFC 5232 §3). Duplicates are dropped.
func splitFlags(strs []string) []string {
	var out []string
	for _, s := range strs {
		for _, f := range strings.Fields(s) {
			if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, f) }) {
				out = append(out, f)
			}
		}
	}
	return out
}

var matchTags = map[string]tagSpec{
	"is":         {group: "match"},
	"contains":   {group: "match"},
	"matches":    {group: "match"},
	"value":      {group: "match", param: tokString, ext: "relational"},
	"count":      {group: "match", param: tokString, ext: "relational"},
	"comparator": {param: tokString},
}

var addressTags = withTags(matchTags, map[string]tagSpec{
	"all":       {group: "part"},
	"localpart": {group: "part"},
	"domain":    {group: "part"},
})

var bodyTags = withTags(matchTags, map[string]tagSpec{
	"raw":     {group: "transform"},
	"text":    {group: "transform"},
	"content": {group: "transform", param: tokString},
})

var dateTags = withTags(matchTags, map[string]tagSpec{
	"zone":         {group: "zone", param: tokString},
	"originalzone": {group: "zone"},
})

// withTags returns the union of two tag sets.
func withTags(a, b map[string]tagSpec) map[string]tagSpec {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

var sizeTags = map[string]tagSpec{"over": {group: "limit"}, "under": {group: "limit"}}

// test checks a test.
func (c *checker) test(n *node) (*test, error) {
	if n.hasBlock {
		return nil, errorAt(n.pos, "a test takes no block")
	}
	t := &test{pos: n.pos}
	switch n.name {
	case "true", "false":
		t.kind = map[string]testKind{"true": testTrue, "false": testFalse}[n.name]
		if len(n.args) > 0 || len(n.tests) > 0 {
			return nil, errorAt(n.pos, "%s takes no argument", n.name)
		}
		return t, nil
	case "not", "allof", "anyof":
		t.kind = map[string]testKind{"not": testNot, "allof": testAllof, "anyof": testAnyof}[n.name]
		if len(n.args) > 0 {
			return nil, errorAt(n.args[0].pos, "%s takes tests, not arguments", n.name)
		}
		if len(n.tests) == 0 || n.name == "not" && len(n.tests) != 1 {
			return nil, errorAt(n.pos, "%s needs a test", n.name)
		}
		for _, sub := range n.tests {
			st, err := c.test(sub)
			if err != nil {
				return nil, err
			}
			t.tests = append(t.tests, st)
		}
		return t, nil
	}
	if len(n.tests) > 0 {
		return nil, errorAt(n.tests[0].pos, "%s takes no nested test", n.name)
	}
	switch n.name {
	case "exists":
		t.kind = testExists
		tg, err := c.tags(n, nil)
		if err != nil {
			return nil, err
		}
		if err := positional(n, tg.pos, tokString); err != nil {
			return nil, err
		}
		t.names = tg.pos[0].strs
		return t, checkFieldNames(n, tg.pos[0])
	case "header", "address", "envelope", "hasflag":
		spec := matchTags
		if n.name == "address" || n.name == "envelope" {
			spec = addressTags
		}
		tg, err := c.tags(n, spec)
		if err != nil {
			return nil, err
		}
		if err := c.comparison(n, tg, t); err != nil {
			return nil, err
		}
		if n.name == "hasflag" {
			if err := c.need(n, "imap4flags"); err != nil {
				return nil, err
			}
			t.kind = testHasflag
			if err := positional(n, tg.pos, tokString); err != nil {
				return nil, err
			}
			t.keys = splitFlags(tg.pos[0].strs)
			return t, nil
		}
		if err := positional(n, tg.pos, tokString, tokString); err != nil {
			return nil, err
		}
		t.names, t.keys = tg.pos[0].strs, tg.pos[1].strs
		switch n.name {
		case "header":
			t.kind = testHeader
		case "address":
			t.kind = testAddress
		case "envelope":
			if err := c.need(n, "envelope"); err != nil {
				return nil, err
			}
			t.kind = testEnvelope
			for i, p := range t.names {
				p = strings.ToLower(p)
				if p != "from" && p != "to" {
					return nil, errorAt(tg.pos[0].pos, "envelope part %q is not \"from\" or \"to\"", p)
				}
				t.names[i] = p
			}
			return t, nil
		}
		return t, checkFieldNames(n, tg.pos[0])
	case "date", "currentdate":
		return c.dateTest(n, t)
	case "body":
		if err := c.need(n, "body"); err != nil {
			return nil, err
		}
		tg, err := c.tags(n, bodyTags)
		if err != nil {
			return nil, err
		}
		if err := c.comparison(n, tg, t); err != nil {
			return nil, err
		}
		if err := positional(n, tg.pos, tokString); err != nil {
			return nil, err
		}
		t.kind, t.keys, t.transform = testBody, tg.pos[0].strs, "text"
		if tr, ok := tg.tags["transform"]; ok {
			t.transform = tr.tag
			t.types = tg.par["transform"].strs
		}
		return t, nil
	case "size":
		t.kind = testSize
		tg, err := c.tags(n, sizeTags)
		if err != nil {
			return nil, err
		}
		if !tg.has("limit") {
			return nil, errorAt(n.pos, "size needs :over or :under")
		}
		if err := positional(n, tg.pos, tokNumber); err != nil {
			return nil, err
		}
		t.over, t.limit = tg.tags["limit"].tag == "over", tg.pos[0].num
		return t, nil
	default:
		return nil, errorAt(n.pos, "unknown test %q", n.name)
	}
}

// comparison reads the match type, comparator and address part of a test.
func (c *checker) comparison(n *node, tg tagged, t *test) error {
	switch tg.tags["match"].tag {
	case "contains":
		t.match = matchContains
	case "matches":
		t.match = matchMatches
	case "value", "count":
		t.match = matchValue
		if tg.tags["match"].tag == "count" {
			t.match = matchCount
		}
		a := tg.par["match"]
		rel, err := singleString(n, a, "the relation")
		if err != nil {
			return err
		}
		t.rel = strings.ToLower(rel)
		switch t.rel {
		case "gt", "ge", "lt", "le", "eq", "ne":
		default:
			return errorAt(a.pos, "relation %q is not one of gt, ge, lt, le, eq, ne (RFC 5231)", rel)
		}
	}
	switch tg.tags["part"].tag {
	case "localpart":
		t.part = partLocal
	case "domain":
		t.part = partDomain
	}
	if a, ok := tg.par["comparator"]; ok {
		name, err := singleString(n, a, ":comparator")
		if err != nil {
			return err
		}
		switch name {
		case "i;octet":
			t.cmp = cmpOctet
		case "i;ascii-casemap":
		case "i;ascii-numeric":
			if !c.required["comparator-i;ascii-numeric"] {
				return errorAt(a.pos, "comparator \"i;ascii-numeric\" needs require \"comparator-i;ascii-numeric\"")
			}
			t.cmp = cmpNumeric
			if t.match == matchContains || t.match == matchMatches {
				return errorAt(a.pos, "comparator \"i;ascii-numeric\" compares whole numbers: use :is, :value or :count")
			}
		default:
			return errorAt(a.pos, "comparator %q is not supported: use \"i;ascii-casemap\", \"i;octet\" or \"i;ascii-numeric\"", name)
		}
	}
	return nil
}

// dateParts are the parts of a date the date tests compare (RFC 5260 §4.2).
var dateParts = []string{"year", "month", "day", "date", "julian", "hour", "minute", "second", "time", "iso8601", "std11", "zone", "weekday"}

// dateTest checks date and currentdate (RFC 5260 §4, §5).
func (c *checker) dateTest(n *node, t *test) (*test, error) {
	if err := c.need(n, "date"); err != nil {
		return nil, err
	}
	tg, err := c.tags(n, dateTags)
	if err != nil {
		return nil, err
	}
	if err := c.comparison(n, tg, t); err != nil {
		return nil, err
	}
	if a, ok := tg.par["zone"]; ok {
		z, err := singleString(n, a, ":zone")
		if err != nil {
			return nil, err
		}
		if t.zone, err = parseZone(z); err != nil {
			return nil, errorAt(a.pos, "zone %q is not +hhmm or -hhmm", z)
		}
	}
	t.originalZone = tg.has("zone") && tg.tags["zone"].tag == "originalzone"
	want := []tokenKind{tokString, tokString}
	t.kind = testCurrentdate
	if n.name == "date" {
		want = append(want, tokString)
		t.kind = testDate
	} else if t.originalZone {
		return nil, errorAt(tg.tags["zone"].pos, "currentdate has no :originalzone")
	}
	if err := positional(n, tg.pos, want...); err != nil {
		return nil, err
	}
	args := tg.pos
	if n.name == "date" {
		if err := checkFieldNames(n, args[0]); err != nil {
			return nil, err
		}
		t.names, args = args[0].strs, args[1:]
	}
	part, err := singleString(n, args[0], "the date part")
	if err != nil {
		return nil, err
	}
	t.datePart = strings.ToLower(part)
	if !slices.Contains(dateParts, t.datePart) {
		return nil, errorAt(args[0].pos, "date part %q is not one of %s", part, strings.Join(dateParts, ", "))
	}
	t.keys = args[1].strs
	return t, nil
}

// parseZone reads a zone written +hhmm or -hhmm (RFC 5260 §4.1.1).
func parseZone(z string) (*time.Location, error) {
	if len(z) != 5 || z[0] != '+' && z[0] != '-' {
		return nil, errors.New("bad zone")
	}
	h, err1 := strconv.Atoi(z[1:3])
	m, err2 := strconv.Atoi(z[3:5])
	if err1 != nil || err2 != nil || h > 23 || m > 59 {
		return nil, errors.New("bad zone")
	}
	off := (h*60 + m) * 60
	if z[0] == '-' {
		off = -off
	}
	return time.FixedZone(z, off), nil
}

// checkFieldNames refuses header names that cannot be (RFC 5228 §5.7:
// an invalid name is an error).
func checkFieldNames(n *node, a argument) error {
	for _, name := range a.strs {
		if name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 127 || r == ':' }) {
			return errorAt(a.pos, "%s: %q is not a header field name", n.name, name)
		}
	}
	return nil
}
