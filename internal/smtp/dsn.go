package smtp

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"time"
)

// Action is what became of a recipient, as a DSN says it. RFC 3464 §2.3.3.
type Action string

// The actions a DSN reports.
const (
	ActionFailed    Action = "failed"
	ActionDelayed   Action = "delayed"
	ActionDelivered Action = "delivered"
	ActionRelayed   Action = "relayed"
)

// Report is a delivery status notification about one message: a
// multipart/report (RFC 6522) with a human-readable part, a
// message/delivery-status part (RFC 3464) and the original message's header
// section. It never carries the original body, nor anything of it in the
// human-readable part: health data stays in the message it was sent in.
type Report struct {
	// Hostname is our host name, the Reporting-MTA.
	Hostname string
	// To is who gets the report: the original envelope sender.
	To string
	// EnvelopeID is the ENVID the sender gave (RFC 3461 §4.4), if any.
	EnvelopeID string
	// Arrival is when we received the original message.
	Arrival time.Time
	// Date is when the report is made.
	Date time.Time
	// Recipients are the recipients reported on.
	Recipients []ReportRecipient
	// Header is the original message's header section, as it was sent.
	Header []byte
	// MessageID is the original message's Message-ID, with angle brackets,
	// so that mail clients thread the report with it.
	MessageID string
	// UTF8 makes a report for a message sent with SMTPUTF8, using the
	// global types of RFC 6533 §6.
	UTF8 bool
}

// ReportRecipient is the status of one recipient. RFC 3464 §2.3.
type ReportRecipient struct {
	// Original is the ORCPT address (RFC 3461 §4.2), if any.
	Original string
	// Final is the recipient's address as we tried it.
	Final string
	// Action is what happened.
	Action Action
	// Status is the enhanced status code (RFC 3463).
	Status [3]int
	// RemoteMTA is the host that answered, if one did.
	RemoteMTA string
	// Diagnostic is the reply the remote host gave, code and text, if any.
	Diagnostic string
	// LastAttempt is when delivery was last tried.
	LastAttempt time.Time
	// WillRetryUntil, for a delayed recipient, is when we give up.
	WillRetryUntil time.Time
}

// WriteTo writes the report as a complete message, header and body.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)

	human, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return 0, err
	}
	qp := quotedprintable.NewWriter(human)
	r.writeHuman(qp)
	if err := qp.Close(); err != nil {
		return 0, err
	}

	statusType, headersType := "message/delivery-status", "text/rfc822-headers"
	if r.UTF8 {
		// RFC 6533 §6.2 and §6.3.
		statusType, headersType = "message/global-delivery-status", "message/global-headers"
	}
	status, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {statusType}})
	if err != nil {
		return 0, err
	}
	r.writeStatus(status)

	headers, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {headersType}})
	if err != nil {
		return 0, err
	}
	headers.Write(headerSection(r.Header))
	if err := mw.Close(); err != nil {
		return 0, err
	}

	var h bytes.Buffer
	fmt.Fprintf(&h, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", r.Hostname)
	fmt.Fprintf(&h, "To: <%s>\r\n", r.To)
	fmt.Fprintf(&h, "Subject: %s\r\n", r.subject())
	fmt.Fprintf(&h, "Date: %s\r\n", r.Date.Format(time.RFC1123Z))
	fmt.Fprintf(&h, "Message-Id: <%s@%s>\r\n", rand.Text(), r.Hostname)
	if r.MessageID != "" && isMsgID(r.MessageID) {
		fmt.Fprintf(&h, "In-Reply-To: %s\r\nReferences: %s\r\n", r.MessageID, r.MessageID)
	}
	// RFC 3834 §5: a report is an automatic response; nobody replies to it.
	h.WriteString("Auto-Submitted: auto-replied\r\n")
	h.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&h, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n\r\n", mw.Boundary())
	return io.Copy(w, io.MultiReader(&h, &body))
}

// worst returns the action that sets the report's subject: a failure over a
// delay over a success.
func (r *Report) worst() Action {
	worst := ActionDelivered
	for _, rc := range r.Recipients {
		switch {
		case rc.Action == ActionFailed:
			return ActionFailed
		case rc.Action == ActionDelayed:
			worst = ActionDelayed
		}
	}
	return worst
}

func (r *Report) subject() string {
	switch r.worst() {
	case ActionFailed:
		return "Non remis / Undelivered mail"
	case ActionDelayed:
		return "Remise retardée / Delayed mail"
	}
	return "Remis / Delivered mail"
}

// writeHuman writes the human-readable part, in French and English. It names
// the recipients and the reasons, never anything of the message itself.
func (r *Report) writeHuman(w io.Writer) {
	var fr, en string
	switch r.worst() {
	case ActionFailed:
		fr = "Votre message n'a pas pu être remis à ces destinataires :"
		en = "Your message could not be delivered to these recipients:"
	case ActionDelayed:
		fr = "Votre message n'a pas encore pu être remis ; nous réessayons :"
		en = "Your message has not been delivered yet; we keep trying:"
	default:
		fr = "Votre message a été remis à ces destinataires :"
		en = "Your message was delivered to these recipients:"
	}
	fmt.Fprintf(w, "Ceci est le service de messagerie de %s.\r\n\r\n%s\r\n\r\n", r.Hostname, fr)
	r.writeList(w)
	fmt.Fprintf(w, "\r\nThis is the mail system at %s.\r\n\r\n%s\r\n\r\n", r.Hostname, en)
	r.writeList(w)
}

func (r *Report) writeList(w io.Writer) {
	for _, rc := range r.Recipients {
		fmt.Fprintf(w, "  <%s>: %s", rc.Final, rc.Action)
		switch {
		case rc.Diagnostic != "" && rc.RemoteMTA != "":
			fmt.Fprintf(w, " (%s: %s)", rc.RemoteMTA, oneLine(rc.Diagnostic))
		case rc.Diagnostic != "":
			fmt.Fprintf(w, " (%s)", oneLine(rc.Diagnostic))
		}
		w.Write([]byte("\r\n"))
	}
}

// writeStatus writes the message/delivery-status body: per-message fields,
// then one block per recipient. RFC 3464 §2.2 and §2.3.
func (r *Report) writeStatus(w io.Writer) {
	fmt.Fprintf(w, "Reporting-MTA: dns; %s\r\n", r.Hostname)
	if r.EnvelopeID != "" {
		fmt.Fprintf(w, "Original-Envelope-Id: %s\r\n", oneLine(r.EnvelopeID))
	}
	if !r.Arrival.IsZero() {
		fmt.Fprintf(w, "Arrival-Date: %s\r\n", r.Arrival.Format(time.RFC1123Z))
	}
	addrType := "rfc822"
	if r.UTF8 {
		addrType = "utf-8" // RFC 6533 §4
	}
	for _, rc := range r.Recipients {
		w.Write([]byte("\r\n"))
		if rc.Original != "" {
			fmt.Fprintf(w, "Original-Recipient: %s; %s\r\n", addrType, oneLine(rc.Original))
		}
		fmt.Fprintf(w, "Final-Recipient: %s; %s\r\n", addrType, oneLine(rc.Final))
		fmt.Fprintf(w, "Action: %s\r\n", rc.Action)
		fmt.Fprintf(w, "Status: %d.%d.%d\r\n", rc.Status[0], rc.Status[1], rc.Status[2])
		if rc.RemoteMTA != "" {
			fmt.Fprintf(w, "Remote-MTA: dns; %s\r\n", oneLine(rc.RemoteMTA))
		}
		if rc.Diagnostic != "" {
			fmt.Fprintf(w, "Diagnostic-Code: smtp; %s\r\n", oneLine(rc.Diagnostic))
		}
		if !rc.LastAttempt.IsZero() {
			fmt.Fprintf(w, "Last-Attempt-Date: %s\r\n", rc.LastAttempt.Format(time.RFC1123Z))
		}
		if !rc.WillRetryUntil.IsZero() {
			fmt.Fprintf(w, "Will-Retry-Until: %s\r\n", rc.WillRetryUntil.Format(time.RFC1123Z))
		}
	}
}

// headerSection returns the header section of a message, up to and
// including the blank line that ends it, with CRLF line ends.
func headerSection(msg []byte) []byte {
	end := len(msg)
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		end = i + 2
	} else if i := bytes.Index(msg, []byte("\n\n")); i >= 0 {
		end = i + 1
	}
	h := msg[:end]
	if !bytes.Contains(h, []byte("\r\n")) {
		h = bytes.ReplaceAll(h, []byte("\n"), []byte("\r\n"))
	}
	return h
}

// oneLine makes s safe as a header field value: one line, no controls.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }), " ")
}

// isMsgID reports whether s looks like "<left@right>" without spaces or
// controls, safe to copy into In-Reply-To.
func isMsgID(s string) bool {
	return len(s) > 2 && s[0] == '<' && s[len(s)-1] == '>' && strings.Contains(s, "@") && s == oneLine(s) && !strings.ContainsAny(s, " \t")
}
