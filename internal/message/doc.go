// Package message is Caduceus's one model of an Internet message: its MIME
// part tree, its envelope, its attachments and the text the search index
// takes of it. Every door reads messages through it; no other package
// walks MIME.
//
// The model is computed once, when a message is stored (delivery, APPEND,
// submission), from the message's bytes as they stream past: Parse holds
// one line and one header at a time, never a body. It records, for every
// part, where its header and body lie in the message, so that a door
// serves any part (IMAP BODY[2], a web download) by reading that byte
// range from the blob store, and the sizes and line counts IMAP's
// BODYSTRUCTURE reports (RFC 9051 §7.5.2). The tree is kept with the
// message in a compact versioned form (Marshal, Unmarshal); a message
// stored before the model existed is parsed on the fly until the
// background migration has computed its model.
//
// Rules a change must keep:
//   - Parsing never fails on content: a malformed message yields a
//     best-effort tree (RFC 2046 asks readers to be lenient). Only read
//     errors are returned.
//   - The limits below bound what any message costs to parse; past them
//     the rest of a body is kept as one opaque part, never dropped.
//   - One definition of an attachment (Classify) and one HTML-to-text
//     (HTMLText): doors do not write their own.
//   - Marshal's format is versioned: a change adds a version and keeps
//     reading the old ones, since stored models outlive the code.
package message

// Limits on one message, against hostile ones.
const (
	// MaxDepth bounds the nesting of multiparts and enclosed messages.
	MaxDepth = 32
	// MaxParts bounds the parts of one message.
	MaxParts = 5000
	// MaxHeaderBytes bounds what is kept of one header; the rest is skipped.
	MaxHeaderBytes = 1 << 20
	// MaxText bounds the text of a message taken for the search index.
	MaxText = 256 << 10
)
