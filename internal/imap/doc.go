// Package imap is Caduceus's IMAP door: an IMAP4rev1 (RFC 3501) and
// IMAP4rev2 (RFC 9051) server that translates the protocol into calls on
// the core, which owns every rule.
//
// The package is built in layers, each readable on its own:
//
//   - the wire: Parser reads one command at a time from a client, within
//     line, literal and command-size limits, and returns it typed
//     (Command); Writer encodes responses and streams literals from an
//     io.Reader;
//   - the view of the selected mailbox: Tracker maps sequence numbers to
//     UIDs and keeps them right while other doors change the mailbox;
//   - live searches: SEARCH RETURN (UPDATE) (CONTEXT=SEARCH, RFC 5267,
//     context.go) evaluates again only the messages that changed and
//     tells what enters and leaves the result as ESEARCH ADDTO and
//     REMOVEFROM, where the selected mailbox's changes are told;
//   - the other mailboxes: NOTIFY (RFC 5465, notify.go) watches the
//     mailboxes a client named and tells their changes as STATUS and
//     LIST, from a per-connection set of folders to report;
//   - message structure: the message model (internal/message), computed
//     once when the message was stored and kept with it
//     (core.Service.Model), says where every part starts and ends, so
//     ENVELOPE and BODYSTRUCTURE are answered without reading the
//     message, and BODY[section] and BINARY[section] stream that part's
//     byte range from the blob, never holding the message in memory.
//
// What SEARCH, SORT and THREAD compare:
//
//   - Flags, sizes, dates, UIDs, sequence numbers and MODSEQ are exact.
//   - SUBJECT, FROM, TO and CC look for the text, case ignored, in the
//     core's decoded copies of those header fields; HEADER and BCC in the
//     message's own header fields, encoded words decoded.
//   - TEXT and BODY go to the core's full-text index
//     (core.Service.SearchFolder, SearchFolderBody): every word of the
//     text must begin a word of the message's decoded text parts, and for
//     TEXT also of its subject, addresses and attachment names, accents
//     and case ignored, so "resul" finds "Résultats" in a
//     quoted-printable body. Punctuation only separates words: a text
//     without a letter or a digit matches every message, as the empty
//     text does.
//   - SORT and THREAD=REFERENCES compare base subjects (RFC 5256 §2.1)
//     folded to lower case, and sent dates, falling back on the arrival
//     when the Date field is missing or unreadable (RFC 5256 §2.2).
//
// Rules a change must keep:
//
//   - Rights are decided by the core. The door never grants or refuses on
//     its own; it reports what the core says.
//   - Nothing is answered OK before the core has made it durable.
//   - A client can never crash the server: malformed input yields a BAD
//     response and the connection goes on; only I/O errors and limits
//     that cannot be recovered from close it.
//   - Unilateral EXPUNGE responses are never sent while a FETCH, STORE
//     or SEARCH (by sequence number) is running (RFC 9051 §7.5.1).
//   - Only the connection's goroutine writes to it.
//   - A connection learns of other connections' changes from the core's
//     events, then reads them back by MODSEQ (selected.go); it never
//     assumes a change it did not read or make itself.
//   - Health data never goes into logs: no subjects, no addresses of
//     correspondents, no bodies, no mailbox contents.
package imap
