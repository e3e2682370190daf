package web

import (
	"fmt"
	"net/http"
	"strings"

	"caduceus/internal/core"
	"caduceus/internal/xdm"
)

// xdmPrefix starts the subject of a message carrying structured health
// documents (IG-MSS-LPS); readers are shown the subject without it.
const xdmPrefix = "XDM/1.0/DDM"

// displaySubject hides the XDM/1.0/DDM prefix of a subject, and the "+" or
// spaces after it.
func displaySubject(s string) string {
	t := strings.TrimSpace(s)
	if len(t) >= len(xdmPrefix) && strings.EqualFold(t[:len(xdmPrefix)], xdmPrefix) {
		return strings.TrimLeft(t[len(xdmPrefix):], "+ ")
	}
	return s
}

// receiptView is one recipient's state in the receipts panel of a sent
// message.
type receiptView struct {
	Recipient, State, Label, Date string
}

// documentView is one document of an XDM archive, as the reading pane lists
// it, with the human-readable copies attached beside the archive.
type documentView struct {
	Title, Patient, Date, Type string
	INS                        bool
	PDFs                       []attachmentView
}

// addMSSante completes the reading pane: the subject without its XDM
// prefix, the documents of XDM archives, the receipts of a message sent and
// the read receipt the message asks for (sent by the mailbox policy, or
// offered to the reader).
func (a *app) addMSSante(r *http.Request, u *user, v *view, f core.Folder, msg core.Message, p *parsed, mv *msgView) error {
	ctx := r.Context()
	mv.Subject = orDefault(displaySubject(mv.Subject), a.t(v, "no_subject"))
	var pdfs []attachmentView
	for _, att := range mv.Attachments {
		if strings.HasSuffix(strings.ToLower(att.Name), ".pdf") {
			pdfs = append(pdfs, att)
		}
	}
	for _, pt := range p.attachments() {
		if !strings.EqualFold(pt.Name, core.XDMName) {
			continue
		}
		data, err := p.read(pt, a.svc.MessageSizeLimit())
		if err != nil {
			return err
		}
		arch, err := xdm.Read(data, xdm.Options{})
		if err != nil {
			mv.XDMError = true
			continue
		}
		for _, d := range arch.Documents {
			dv := documentView{Title: orDefault(d.Title, d.Path), Patient: d.Patient.Name(), Type: orDefault(d.CodeName, d.Code), INS: d.Patient.Qualified, PDFs: pdfs}
			if d.Patient.BirthDate != "" && len(d.Patient.BirthDate) >= 8 {
				dv.Patient += " (" + d.Patient.BirthDate[6:8] + "/" + d.Patient.BirthDate[4:6] + "/" + d.Patient.BirthDate[:4] + ")"
			}
			if !d.Date.IsZero() {
				dv.Date = a.longDate(v, d.Date)
			}
			mv.Documents = append(mv.Documents, dv)
		}
	}
	if f.SpecialUse == `\Sent` {
		rs, err := a.svc.Receipts(ctx, u.actor, msg.ID)
		if err != nil {
			return err
		}
		for _, rc := range rs {
			mv.Receipts = append(mv.Receipts, receiptView{Recipient: rc.Recipient, State: rc.State, Label: a.t(v, "receipt_"+rc.State), Date: a.shortDate(v, rc.Updated)})
		}
	}
	req, err := a.svc.ReadReceipt(ctx, u.actor, msg.ID)
	if err != nil {
		return err
	}
	switch {
	case req.Automatic():
		if err := a.svc.SendReadReceipt(ctx, u.actor, msg.ID, "displayed", false); err != nil {
			return err
		}
		mv.MDNSent = true
	case req.Prompt():
		mv.MDNPrompt, mv.MDNTo = true, req.To
	}
	return nil
}

// readReceiptAction answers the reading pane's read-receipt prompt.
func (a *app) readReceiptAction(r *http.Request, u *user, msg core.Message, op string) error {
	if op == "mdn-send" {
		return a.svc.SendReadReceipt(r.Context(), u.actor, msg.ID, "displayed", true)
	}
	return a.svc.DeclineReadReceipt(r.Context(), u.actor, msg.ID)
}

// deletedReceipt sends the "deleted" disposition (RFC 8098 §3.2.6.2) of a
// message deleted before its receipt was given, when the mailbox policy
// sends receipts without asking.
func (a *app) deletedReceipt(r *http.Request, u *user, msg core.Message) error {
	req, err := a.svc.ReadReceipt(r.Context(), u.actor, msg.ID)
	if err != nil || !req.Automatic() {
		return err
	}
	if err := a.svc.SendReadReceipt(r.Context(), u.actor, msg.ID, "deleted", false); err != nil {
		return fmt.Errorf("web: deleted receipt: %w", err)
	}
	return nil
}
