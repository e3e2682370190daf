// Package report reads the reports that come back about a message sent — the
// delivery status notifications of RFC 3464 and the message disposition
// notifications (read receipts) of RFC 8098, both multipart/report (RFC
// 6522) — and writes the MDNs a reader sends.
//
// Reports come from outside: Parse bounds what it reads and never fails on
// a malformed one, it says it is not a report.
package report

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message/textproto"
)

// Kind tells a delivery report from a disposition notification.
type Kind int

// The kinds of report.
const (
	// Delivery is a DSN (report-type=delivery-status, RFC 3464).
	Delivery Kind = iota + 1
	// Disposition is an MDN (report-type=disposition-notification, RFC 8098).
	Disposition
)

// Report is what a DSN or an MDN says about one original message.
type Report struct {
	Kind Kind
	// MessageID is the original message's Message-ID, with angle brackets.
	MessageID string
	// Recipients holds one entry per recipient reported on; an MDN has one.
	Recipients []Recipient
}

// Recipient is the fate of one recipient.
type Recipient struct {
	// Final is the Final-Recipient address; Original the Original-Recipient.
	Final, Original string
	// Action is the DSN Action (failed, delayed, delivered, relayed,
	// expanded), lower case; empty in an MDN.
	Action string
	// Status is the DSN Status (e.g. 5.1.1).
	Status string
	// Disposition is the MDN disposition type (displayed, deleted,
	// dispatched, processed), lower case; empty in a DSN.
	Disposition string
	// Automatic tells the MDN was sent without the reader acting.
	Automatic bool
}

// maxPartBytes bounds the machine-readable part and the headers read.
const maxPartBytes = 64 << 10

// ErrNotReport: the message is not a DSN or an MDN that can be read.
var ErrNotReport = errors.New("report: not a delivery or disposition report")

// Parse reads a message and, when it is a DSN or an MDN, what it reports.
func Parse(data []byte) (*Report, error) {
	br := bufio.NewReader(bytes.NewReader(data))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, ErrNotReport
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["boundary"] == "" {
		return nil, ErrNotReport
	}
	var rep Report
	var machine string
	switch strings.ToLower(params["report-type"]) {
	case "delivery-status":
		rep.Kind, machine = Delivery, "delivery-status"
	case "disposition-notification":
		rep.Kind, machine = Disposition, "disposition-notification"
	default:
		return nil, ErrNotReport
	}
	mr := textproto.NewMultipartReader(br, params["boundary"])
	var groups [][]field
	headerID := ""
	for i := 0; i < 10; i++ {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		body, err := io.ReadAll(io.LimitReader(p, maxPartBytes))
		if err != nil {
			return nil, ErrNotReport
		}
		body = decodeBody(p.Header.Get("Content-Transfer-Encoding"), body)
		switch pt {
		case "message/" + machine, "message/global-" + machine: // RFC 6533 §6
			groups = parseGroups(body)
		case "message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers":
			if oh, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(append(body, "\r\n\r\n"...)))); err == nil {
				headerID = strings.TrimSpace(oh.Get("Message-Id"))
			}
		}
	}
	if len(groups) == 0 {
		return nil, ErrNotReport
	}
	switch rep.Kind {
	case Disposition:
		f := groups[0]
		r := Recipient{Final: address(get(f, "final-recipient")), Original: address(get(f, "original-recipient"))}
		// RFC 8098 §3.2.6: action-mode/sending-mode; disposition-type[/modifier].
		modes, typ, _ := strings.Cut(get(f, "disposition"), ";")
		typ, _, _ = strings.Cut(typ, "/")
		r.Disposition = strings.ToLower(strings.TrimSpace(typ))
		r.Automatic = strings.Contains(strings.ToLower(modes), "automatic-action") || strings.Contains(strings.ToLower(modes), "mdn-sent-automatically")
		if r.Final == "" || r.Disposition == "" {
			return nil, ErrNotReport
		}
		rep.Recipients = []Recipient{r}
		rep.MessageID = strings.TrimSpace(get(f, "original-message-id"))
	case Delivery:
		// RFC 3464 §2.1: per-message fields, then one group per recipient.
		for _, g := range groups[1:] {
			r := Recipient{Final: address(get(g, "final-recipient")), Original: address(get(g, "original-recipient")),
				Action: strings.ToLower(strings.TrimSpace(get(g, "action"))), Status: strings.TrimSpace(get(g, "status"))}
			if r.Final != "" && r.Action != "" {
				rep.Recipients = append(rep.Recipients, r)
			}
		}
		if len(rep.Recipients) == 0 {
			return nil, ErrNotReport
		}
	}
	if rep.MessageID == "" {
		rep.MessageID = headerID
	}
	if rep.MessageID == "" {
		return nil, ErrNotReport
	}
	return &rep, nil
}

type field struct{ name, value string }

// parseGroups reads RFC 822-style field groups separated by blank lines,
// with folded lines joined.
func parseGroups(body []byte) [][]field {
	var groups [][]field
	var cur []field
	lines := strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n")
	for _, line := range lines {
		switch {
		case strings.TrimSpace(line) == "":
			if len(cur) > 0 {
				groups = append(groups, cur)
				cur = nil
			}
		case (line[0] == ' ' || line[0] == '\t') && len(cur) > 0:
			cur[len(cur)-1].value += " " + strings.TrimSpace(line)
		default:
			name, value, ok := strings.Cut(line, ":")
			if ok {
				cur = append(cur, field{strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)})
			}
		}
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

func get(g []field, name string) string {
	for _, f := range g {
		if f.name == name {
			return f.value
		}
	}
	return ""
}

// address reads "rfc822; addr" (RFC 3464 §2.3.2), lower case.
func address(v string) string {
	typ, addr, ok := strings.Cut(v, ";")
	if !ok {
		return ""
	}
	typ = strings.ToLower(strings.TrimSpace(typ))
	if typ != "rfc822" && typ != "utf-8" {
		return ""
	}
	addr = strings.Trim(strings.TrimSpace(addr), "<>")
	return strings.ToLower(addr)
}

func decodeBody(cte string, body []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "base64":
		dec := make([]byte, len(body))
		n, err := decodeBase64(dec, body)
		if err == nil {
			return dec[:n]
		}
	case "quoted-printable":
		if b, err := io.ReadAll(newQPReader(body)); err == nil {
			return b
		}
	}
	return body
}

// MDN is a disposition notification to write (RFC 8098 §3).
type MDN struct {
	// From is the reader's mailbox; To the Disposition-Notification-To
	// address.
	From, To string
	// ReportingUA names us (RFC 8098 §3.2.1).
	ReportingUA string
	// FinalRecipient is the reader's mailbox, OriginalRecipient the
	// Original-Recipient field of the original, if any.
	FinalRecipient, OriginalRecipient string
	// OriginalMessageID is the original's Message-ID with angle brackets.
	OriginalMessageID string
	// Subject is the original's subject, for the reader's client.
	Subject string
	// Disposition is "displayed" or "deleted".
	Disposition string
	// Automatic: sent by a mailbox policy, not by the reader's consent.
	Automatic bool
	// Original is the original message; a large one goes back as its header
	// section only.
	Original []byte
	// Extra holds header fields to add, CRLF-terminated (X-MSS-NIL).
	Extra string
	Date  time.Time
	// MessageID is the MDN's own Message-ID, with angle brackets.
	MessageID string
}

// maxReturned bounds the original sent back whole in an MDN.
const maxReturned = 1 << 20

// Bytes writes the MDN: multipart/report; report-type=disposition-notification
// with a human part, the message/disposition-notification part and the
// original (message/rfc822, or text/rfc822-headers when large).
func (m MDN) Bytes() []byte {
	boundary := "mdn-" + strings.ToLower(rand.Text())
	mode := "manual-action/MDN-sent-manually"
	if m.Automatic {
		mode = "automatic-action/MDN-sent-automatically"
	}
	human := map[string]string{
		"displayed": "Votre message a été affiché par son destinataire. Cela ne garantit pas qu'il a été lu ou compris.\r\nYour message was displayed by its recipient. This is no guarantee that it was read or understood.",
		"deleted":   "Votre message a été supprimé par son destinataire sans être affiché.\r\nYour message was deleted by its recipient without being displayed.",
	}[m.Disposition]
	label := map[string]string{"displayed": "Accusé de lecture", "deleted": "Message supprimé sans lecture"}[m.Disposition]
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", m.From, m.To)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", label+" : "+oneLine(m.Subject)))
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: %s\r\n", m.Date.Format(time.RFC1123Z), m.MessageID)
	if m.OriginalMessageID != "" {
		fmt.Fprintf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", m.OriginalMessageID, m.OriginalMessageID)
	}
	b.WriteString("Auto-Submitted: auto-replied\r\n")
	b.WriteString(m.Extra)
	fmt.Fprintf(&b, "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary=\"%s\"\r\n\r\n", boundary)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s\r\n", boundary, human)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: message/disposition-notification\r\n\r\n", boundary)
	fmt.Fprintf(&b, "Reporting-UA: %s; Caduceus\r\n", oneLine(m.ReportingUA))
	if m.OriginalRecipient != "" {
		fmt.Fprintf(&b, "Original-Recipient: rfc822;%s\r\n", oneLine(m.OriginalRecipient))
	}
	fmt.Fprintf(&b, "Final-Recipient: rfc822;%s\r\n", oneLine(m.FinalRecipient))
	if m.OriginalMessageID != "" {
		fmt.Fprintf(&b, "Original-Message-ID: %s\r\n", oneLine(m.OriginalMessageID))
	}
	fmt.Fprintf(&b, "Disposition: %s; %s\r\n\r\n", mode, m.Disposition)
	if len(m.Original) <= maxReturned {
		fmt.Fprintf(&b, "--%s\r\nContent-Type: message/rfc822\r\n\r\n", boundary)
		b.Write(m.Original)
		if !bytes.HasSuffix(m.Original, []byte("\r\n")) {
			b.WriteString("\r\n")
		}
	} else {
		head, _, _ := bytes.Cut(m.Original, []byte("\r\n\r\n"))
		fmt.Fprintf(&b, "--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary)
		b.Write(head)
		b.WriteString("\r\n\r\n")
	}
	fmt.Fprintf(&b, "--%s--\r\n", boundary)
	return []byte(b.String())
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < 0x20 {
			return ' '
		}
		return r
	}, s)), " ")
}

// Requested returns the address a message asks its MDN be sent to
// (Disposition-Notification-To, RFC 8098 §2.1), lower case, and whether it
// is the Return-Path too: only then may an MDN go without asking the reader
// (RFC 8098 §2.1, MSSanté IG-MSS-LPS).
func Requested(header []byte) (to string, matchesReturnPath bool) {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(header)))
	if err != nil {
		return "", false
	}
	list, err := mail.ParseAddressList(h.Get("Disposition-Notification-To"))
	if err != nil || len(list) == 0 {
		return "", false
	}
	to = strings.ToLower(list[0].Address)
	rp := strings.ToLower(strings.Trim(strings.TrimSpace(h.Get("Return-Path")), "<>"))
	return to, rp != "" && rp == to
}
