package sieve

// The generic grammar of RFC 5228 §8.2: commands, their arguments, tests
// and blocks, before any command is given a meaning.

// argument is one argument of a command or test: a tag, a number or a
// string list (a single string is a list of one).
type argument struct {
	pos  Pos
	kind tokenKind // tokTag, tokNumber or tokString
	tag  string
	num  int64
	strs []string
}

// node is a command or a test as written.
type node struct {
	pos      Pos
	name     string
	args     []argument
	tests    []*node
	block    []*node // commands only
	hasBlock bool
}

// parser turns tokens into nodes.
type parser struct {
	lx     *lexer
	tok    token
	limits Limits
}

func (p *parser) advance() error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) isPunct(s string) bool { return p.tok.kind == tokPunct && p.tok.text == s }

func (p *parser) expect(s string) error {
	if !p.isPunct(s) {
		return errorAt(p.tok.pos, "expected %q, found %s", s, p.tok.describe())
	}
	return p.advance()
}

// commands reads commands up to the end of the script or of a block.
func (p *parser) commands(depth int) ([]*node, error) {
	var out []*node
	for p.tok.kind != tokEOF && !p.isPunct("}") {
		c, err := p.command(depth)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (p *parser) command(depth int) (*node, error) {
	if p.tok.kind != tokIdent {
		return nil, errorAt(p.tok.pos, "expected a command, found %s", p.tok.describe())
	}
	n := &node{pos: p.tok.pos, name: p.tok.text}
	if err := p.advance(); err != nil {
		return nil, err
	}
	// Tests nest on their own count, blocks on theirs.
	if err := p.arguments(n, 0); err != nil {
		return nil, err
	}
	switch {
	case p.isPunct(";"):
		return n, p.advance()
	case p.isPunct("{"):
		if depth+1 > p.limits.MaxDepth {
			return nil, errorAt(p.tok.pos, "blocks nested deeper than %d", p.limits.MaxDepth)
		}
		open := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		block, err := p.commands(depth + 1)
		if err != nil {
			return nil, err
		}
		if !p.isPunct("}") {
			return nil, errorAt(open, "block not closed: missing }")
		}
		n.block, n.hasBlock = block, true
		return n, p.advance()
	default:
		return nil, errorAt(p.tok.pos, "expected \";\" or a block after %q, found %s", n.name, p.tok.describe())
	}
}

// arguments reads the arguments of a command or test, then its test or
// test list.
func (p *parser) arguments(n *node, depth int) error {
	for {
		switch {
		case p.tok.kind == tokTag:
			n.args = append(n.args, argument{pos: p.tok.pos, kind: tokTag, tag: p.tok.text})
		case p.tok.kind == tokNumber:
			n.args = append(n.args, argument{pos: p.tok.pos, kind: tokNumber, num: p.tok.num})
		case p.tok.kind == tokString:
			n.args = append(n.args, argument{pos: p.tok.pos, kind: tokString, strs: []string{p.tok.text}})
		case p.isPunct("["):
			a, err := p.stringList()
			if err != nil {
				return err
			}
			n.args = append(n.args, a)
			continue
		default:
			return p.testsOf(n, depth)
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
}

func (p *parser) stringList() (argument, error) {
	a := argument{pos: p.tok.pos, kind: tokString}
	if err := p.advance(); err != nil {
		return a, err
	}
	for {
		if p.tok.kind != tokString {
			return a, errorAt(p.tok.pos, "expected a string in the list, found %s", p.tok.describe())
		}
		a.strs = append(a.strs, p.tok.text)
		if err := p.advance(); err != nil {
			return a, err
		}
		if p.isPunct("]") {
			return a, p.advance()
		}
		if err := p.expect(","); err != nil {
			return a, err
		}
	}
}

// testsOf reads the test or parenthesised test list that may end a list of
// arguments.
func (p *parser) testsOf(n *node, depth int) error {
	switch {
	case p.tok.kind == tokIdent:
		t, err := p.test(depth + 1)
		if err != nil {
			return err
		}
		n.tests = []*node{t}
	case p.isPunct("("):
		if err := p.advance(); err != nil {
			return err
		}
		for {
			t, err := p.test(depth + 1)
			if err != nil {
				return err
			}
			n.tests = append(n.tests, t)
			if p.isPunct(")") {
				return p.advance()
			}
			if err := p.expect(","); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *parser) test(depth int) (*node, error) {
	if depth > p.limits.MaxDepth {
		return nil, errorAt(p.tok.pos, "tests nested deeper than %d", p.limits.MaxDepth)
	}
	if p.tok.kind != tokIdent {
		return nil, errorAt(p.tok.pos, "expected a test, found %s", p.tok.describe())
	}
	n := &node{pos: p.tok.pos, name: p.tok.text}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return n, p.arguments(n, depth)
}
