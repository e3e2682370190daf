package core

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/textproto"

	"caduceus/internal/blob"
	"caduceus/internal/message"
	"caduceus/internal/xdm"
)

// DefaultPatientDomain is the domain of the patients' mailboxes in Mon Espace
// Santé (<matricule INS>@patient.mssante.fr).
const DefaultPatientDomain = "patient.mssante.fr"

// XDMName is the name of the attachment that carries an IHE XDM archive.
const XDMName = "IHE_XDM.ZIP"

// mssHeaders sets the MSSanté headers of a submitted message (Référentiel #2
// §3.8, §3.4.2.3), replacing whatever the client wrote in them:
//   - X-MSS-NIL (ECO.2.4.3): on every message, the software's reference;
//   - X-MSS-CODECDA and X-MSS-INS (ECO.2.4.1-2): when an IHE_XDM.ZIP holding
//     CDA documents is attached, their type codes (comma-separated) and O
//     when every CDA carries a qualified INS, N otherwise; absent otherwise;
//   - X-MSS-MES: FIN (ECO.2.2.8) when the sender blocks replies and the
//     message goes to a patient.
//
// An attachment named IHE_XDM.ZIP that cannot be read is refused: the
// sender would otherwise send a patient's documents no software can read.
func (s *Service) mssHeaders(data []byte, recipients []string, blockReplies bool) ([]byte, error) {
	br := bufio.NewReader(bytes.NewReader(data))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("%w: message header: %v", ErrInvalid, err)
	}
	archives, err := xdmAttachments(data)
	if err != nil {
		return nil, err
	}
	var codes []string
	qualified, cdas := true, 0
	for _, raw := range archives {
		a, err := xdm.Read(raw, xdm.Options{INSOIDs: s.opts.INSOIDs})
		if err != nil {
			return nil, fmt.Errorf("%w: attachment %s: %v", ErrInvalid, XDMName, err)
		}
		if err := s.checkRestrictions(a, recipients); err != nil {
			return nil, err
		}
		for _, d := range a.CDAs() {
			cdas++
			if d.Code != "" {
				codes = append(codes, d.Code)
			}
			qualified = qualified && d.Patient.Qualified
		}
	}
	for _, k := range []string{"X-Mss-Nil", "X-Mss-Codecda", "X-Mss-Ins"} {
		h.Del(k)
	}
	if s.opts.NIL != "" {
		h.Set("X-MSS-NIL", s.opts.NIL)
	}
	if cdas > 0 {
		h.Set("X-MSS-CODECDA", strings.Join(codes, ","))
		ins := "N"
		if qualified {
			ins = "O"
		}
		h.Set("X-MSS-INS", ins)
	}
	toPatient := false
	for _, r := range recipients {
		if strings.EqualFold(DomainOf(strings.TrimSpace(r)), s.patientDomain()) {
			toPatient = true
		}
	}
	if blockReplies && toPatient {
		h.Set("X-MSS-MES", "FIN")
	} else if !toPatient || !strings.EqualFold(strings.TrimSpace(h.Get("X-Mss-Mes")), "FIN") {
		h.Del("X-Mss-Mes")
	}
	var out bytes.Buffer
	out.Grow(len(data) + 128)
	if err := textproto.WriteHeader(&out, h); err != nil {
		return nil, err
	}
	if _, err := io.Copy(&out, br); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// ErrRestricted: a document of the message's XDM archive carries a
// confidentiality code that forbids sending it to one of the recipients.
var ErrRestricted = errors.New("a document of the message may not be sent to this recipient")

// checkRestrictions applies the MetaDMPMSS confidentiality codes of an
// archive's documents (mssante.md, IG-MSS-LPS meta-dmp-mss): a document
// masked to professionals (MASQUE_PS) goes to patients only, one hidden
// from the patient (INVISIBLE_PATIENT) to no patient. Any address outside
// the patients' domain counts as a professional's.
func (s *Service) checkRestrictions(a *xdm.Archive, recipients []string) error {
	for _, d := range a.Documents {
		for _, r := range recipients {
			patient := s.IsPatientAddress(r)
			switch {
			case d.Restricted(xdm.MaskedFromProfessionals) && !patient:
				return fmt.Errorf("%w: %w: %s is masked to professionals (MASQUE_PS) and %s is not a patient's address", ErrInvalid, ErrRestricted, d.Path, r)
			case d.Restricted(xdm.HiddenFromPatient) && patient:
				return fmt.Errorf("%w: %w: %s is hidden from the patient (INVISIBLE_PATIENT)", ErrInvalid, ErrRestricted, d.Path)
			}
		}
	}
	return nil
}

func (s *Service) patientDomain() string {
	if s.opts.PatientDomain != "" {
		return s.opts.PatientDomain
	}
	return DefaultPatientDomain
}

// IsPatientAddress tells whether addr is a patient's mailbox in Mon Espace
// Santé, to which only professionals may write first.
func (s *Service) IsPatientAddress(addr string) bool {
	return strings.EqualFold(DomainOf(strings.TrimSpace(addr)), s.patientDomain())
}

// maxXDMArchives bounds the archives read per message.
const maxXDMArchives = 10

// xdmAttachments returns the decoded bytes of every attachment named
// IHE_XDM.ZIP, found through the message model (internal/message).
func xdmAttachments(data []byte) ([][]byte, error) {
	if !bytes.Contains(bytes.ToUpper(data), []byte(XDMName)) {
		return nil, nil
	}
	m, err := message.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, nil // unreadable MIME is stored as it is; nothing to compute
	}
	var out [][]byte
	for _, l := range message.Attachments(m.Root) {
		if !strings.EqualFold(strings.TrimSpace(l.Name), XDMName) {
			continue
		}
		if len(out) == maxXDMArchives {
			return nil, fmt.Errorf("%w: more than %d %s attachments", ErrInvalid, maxXDMArchives, XDMName)
		}
		p := l.Part
		if p.BodyOffset < 0 || p.EndOffset > int64(len(data)) || p.BodyOffset > p.EndOffset {
			return nil, fmt.Errorf("%w: attachment %s out of the message", ErrInvalid, XDMName)
		}
		dec, err := message.NewDecoder(p.Encoding, bytes.NewReader(data[p.BodyOffset:p.EndOffset]))
		if err != nil {
			return nil, fmt.Errorf("%w: attachment %s: %v", ErrInvalid, XDMName, err)
		}
		b, err := io.ReadAll(dec)
		if err != nil {
			return nil, fmt.Errorf("%w: attachment %s: %v", ErrInvalid, XDMName, err)
		}
		out = append(out, b)
	}
	return out, nil
}

// checkPatientMessage applies the rule of Mon Espace Santé (reference §1.1):
// only professionals start a conversation with a patient. Mail from a
// patient's address must answer a message sent to that patient from the
// recipient mailbox (In-Reply-To or References), one that did not block
// replies (X-MSS-MES: FIN).
func (s *Service) checkPatientMessage(ctx context.Context, mailFrom string, h message.Header, rcpts []Recipient) error {
	if mailFrom == "" || !s.IsPatientAddress(mailFrom) {
		return nil
	}
	from := strings.ToLower(strings.TrimSpace(mailFrom))
	parents := h.Parents()
	for _, r := range rcpts {
		answered := false
		for _, id := range parents {
			var n int
			if err := s.st.QueryRow(ctx, `SELECT COUNT(*) FROM receipts WHERE mailbox_id = ? AND message_id = ? AND rcpt = ?`, r.MailboxID, id, from).Scan(&n); err != nil {
				return fmt.Errorf("patient reply: %w", err)
			}
			if n == 0 {
				continue
			}
			blocked, err := s.repliesBlocked(ctx, r.MailboxID, id)
			if err != nil {
				return err
			}
			if blocked {
				return fmt.Errorf("%w: the professional blocked replies to this message (X-MSS-MES: FIN)", ErrPermission)
			}
			answered = true
			break
		}
		if !answered {
			return fmt.Errorf("%w: a patient may only answer a professional who wrote first", ErrPermission)
		}
	}
	return nil
}

// repliesBlocked tells whether the Sent copy of a message carries
// X-MSS-MES: FIN.
func (s *Service) repliesBlocked(ctx context.Context, mailboxID int64, messageID string) (bool, error) {
	var ref blob.Ref
	err := s.st.QueryRow(ctx, `SELECT b.segment, b.offset_bytes, b.length, b.size FROM blobs b JOIN messages m ON m.blob_id = b.id JOIN folders f ON f.id = m.folder_id
		WHERE f.mailbox_id = ? AND f.special_use = ? AND m.message_id = ? LIMIT 1`, mailboxID, `\Sent`, messageID).Scan(&ref.Segment, &ref.Offset, &ref.Length, &ref.Size)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("patient reply: %w", err)
	}
	raw, err := s.blobs.ReadAll(ref)
	if err != nil {
		return false, err
	}
	return strings.EqualFold(headerValue(raw, "X-MSS-MES"), "FIN"), nil
}
