package core

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

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
// IHE_XDM.ZIP.
func xdmAttachments(data []byte) ([][]byte, error) {
	if !bytes.Contains(bytes.ToUpper(data), []byte(XDMName)) {
		return nil, nil
	}
	e, err := message.Read(bytes.NewReader(data))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, nil // unreadable MIME is stored as it is; nothing to compute
	}
	var out [][]byte
	errTooMany := errors.New("too many archives")
	err = e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil || part.MultipartReader() != nil {
			return nil
		}
		_, dp, _ := part.Header.ContentDisposition()
		_, tp, _ := part.Header.ContentType()
		name := dp["filename"]
		if name == "" {
			name = tp["name"]
		}
		if !strings.EqualFold(strings.TrimSpace(name), XDMName) {
			return nil
		}
		if len(out) == maxXDMArchives {
			return errTooMany
		}
		b, rerr := io.ReadAll(part.Body)
		if rerr != nil {
			return fmt.Errorf("%w: attachment %s: %v", ErrInvalid, XDMName, rerr)
		}
		out = append(out, b)
		return nil
	})
	if errors.Is(err, errTooMany) {
		return nil, fmt.Errorf("%w: more than %d %s attachments", ErrInvalid, maxXDMArchives, XDMName)
	}
	if errors.Is(err, ErrInvalid) {
		return nil, err
	}
	return out, nil
}
