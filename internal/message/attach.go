package message

import (
	"fmt"
	"mime"
	"strings"
)

// Role is what a leaf part is to a reader of the message.
type Role int

// The roles of Classify.
const (
	// Body is the text of the message: its first plain text and first
	// HTML part, in the message itself or in the multiparts just under it.
	Body Role = iota
	// Inline is an image that an HTML body shows by its Content-ID
	// (RFC 2392, RFC 2387 multipart/related).
	Inline
	// Attachment is every other leaf: a file the reader opens or saves.
	Attachment
)

// Leaf is a part that holds content of its own, as Leaves lists them.
type Leaf struct {
	// Index numbers the leaves in the order of the message, from 0: the
	// web app names a part by it.
	Index int
	// Path is the part's section number (RFC 9051 §6.4.5), e.g. [2 1].
	Path []int
	Part *Part
	Role Role
	// Name is the file name: the part's own, or one made up for an
	// attachment that has none ("part-3.pdf", "message.eml").
	Name string
}

// Leaves lists the leaves of a message in order, each with its role.
// It is the one definition of an attachment: a leaf that is neither the
// body text nor an image the body shows. An enclosed message
// (message/rfc822) is one attachment: its parts are not listed.
func Leaves(root *Part) []Leaf {
	var out []Leaf
	var text, htmlSeen bool
	var walk func(p *Part, path []int, depth int)
	walk = func(p *Part, path []int, depth int) {
		if p.IsMultipart() && len(p.Parts) > 0 {
			for i, c := range p.Parts {
				walk(c, append(path[:len(path):len(path)], i+1), depth+1)
			}
			return
		}
		l := Leaf{Index: len(out), Path: path, Part: p, Name: p.FileName(), Role: Attachment}
		if len(l.Path) == 0 {
			l.Path = []int{1} // RFC 9051 §6.4.5: a single part is part 1
		}
		inline := p.Disposition != "attachment" && l.Name == ""
		switch mt := p.MediaType(); {
		case mt == "text/plain" && inline && !text && depth <= 2:
			l.Role, text = Body, true
		case mt == "text/html" && inline && !htmlSeen && depth <= 2:
			l.Role, htmlSeen = Body, true
		case p.Type == "image" && p.ID != "" && p.Disposition != "attachment":
			l.Role = Inline
		}
		if l.Role == Attachment && l.Name == "" {
			l.Name = defaultName(p.MediaType(), l.Index)
		}
		out = append(out, l)
	}
	walk(root, nil, 0)
	return out
}

// Attachments returns the leaves of the message that are attachments.
func Attachments(root *Part) []Leaf {
	var out []Leaf
	for _, l := range Leaves(root) {
		if l.Role == Attachment {
			out = append(out, l)
		}
	}
	return out
}

// defaultName makes up the name of an attachment that has none.
func defaultName(mediaType string, i int) string {
	if mediaType == "message/rfc822" || mediaType == "message/global" {
		return "message.eml"
	}
	ext := ".bin"
	if exts, _ := mime.ExtensionsByType(mediaType); len(exts) > 0 {
		ext = exts[0]
	}
	return fmt.Sprintf("part-%d%s", i+1, strings.ToLower(ext))
}
