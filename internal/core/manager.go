package core

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"caduceus/internal/store"
)

// ManagerContact is who manages the accounts of a domain, as "Vos
// informations Gestionnaire" shows it (user guide F15). Operators set it.
type ManagerContact struct {
	Domain  string
	Name    string
	Address string
	Phone   string
}

// ManagerInfo is what a person is told of who manages their account: their
// domain's manager contact (empty fields when none was set) and the
// support address of the node ([support] address; empty when none).
type ManagerInfo struct {
	ManagerContact
	Support string
}

// Limits of a message written to one's manager, in characters.
const (
	MaxManagerSubject = 200
	MaxManagerText    = 8000
)

// Whom a message from "Vos informations Gestionnaire" goes to.
const (
	ToManager = "manager"
	ToSupport = "support"
)

// SetManagerContact sets who manages the accounts of a local domain. Only
// operators (the system actor) and managers of the domain may; an empty
// name and address remove it.
func (s *Service) SetManagerContact(ctx context.Context, actor Actor, c ManagerContact) error {
	c.Domain = strings.ToLower(strings.TrimSpace(c.Domain))
	c.Name, c.Phone = strings.TrimSpace(c.Name), strings.TrimSpace(c.Phone)
	if err := s.requireManager(ctx, actor, c.Domain); err != nil {
		return err
	}
	if local, err := s.IsLocalDomain(ctx, c.Domain); err != nil {
		return err
	} else if !local {
		return fmt.Errorf("domain %s: %w", c.Domain, ErrNotFound)
	}
	if strings.TrimSpace(c.Address) != "" {
		addr, err := NormalizeAddress(c.Address)
		if err != nil {
			return err
		}
		c.Address = addr
	}
	for _, f := range []string{c.Name, c.Phone} {
		if utf8.RuneCountInString(f) > MaxProfileField || strings.ContainsAny(f, "\r\n") {
			return fmt.Errorf("%w: a manager field is longer than %d characters or has a line break", ErrInvalid, MaxProfileField)
		}
	}
	remove := c.Name == "" && c.Address == ""
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM domain_managers WHERE domain = ?`, c.Domain); err != nil {
			return fmt.Errorf("set manager contact: %w", err)
		}
		detail := "removed"
		if !remove {
			detail = "set"
			if _, err := tx.Exec(ctx, `INSERT INTO domain_managers (domain, name, address, phone, updated) VALUES (?, ?, ?, ?, ?)`,
				c.Domain, c.Name, c.Address, c.Phone, s.nowMillis()); err != nil {
				return fmt.Errorf("set manager contact: %w", err)
			}
		}
		return s.audit.Record(ctx, tx, actor.audit("manager.contact.set", c.Domain, nil, detail))
	})
}

// ManagerOf returns who manages the actor's account: the manager contact
// of its domain and the support address.
func (s *Service) ManagerOf(ctx context.Context, actor Actor) (ManagerInfo, error) {
	if actor.IsSystem() {
		return ManagerInfo{}, fmt.Errorf("%w: the system has no manager", ErrInvalid)
	}
	a, err := s.Account(ctx, actor.AccountID)
	if err != nil {
		return ManagerInfo{}, err
	}
	_, domain, _ := strings.Cut(a.Address, "@")
	c, err := s.domainManager(ctx, domain)
	if err != nil {
		return ManagerInfo{}, err
	}
	return ManagerInfo{ManagerContact: c, Support: s.opts.SupportAddress}, nil
}

// DomainManager returns who manages the accounts of a domain, with empty
// fields when nobody was set. It takes what SetManagerContact takes.
func (s *Service) DomainManager(ctx context.Context, actor Actor, domain string) (ManagerContact, error) {
	domain = strings.ToLower(strings.TrimSpace(domain))
	if err := s.requireManager(ctx, actor, domain); err != nil {
		return ManagerContact{}, err
	}
	return s.domainManager(ctx, domain)
}

func (s *Service) domainManager(ctx context.Context, domain string) (ManagerContact, error) {
	c := ManagerContact{Domain: domain}
	err := s.st.QueryRow(ctx, `SELECT name, address, phone FROM domain_managers WHERE domain = ?`, domain).Scan(&c.Name, &c.Address, &c.Phone)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return ManagerContact{}, fmt.Errorf("read manager contact: %w", err)
	}
	return c, nil
}

// WriteToManager sends a message from the actor's own mailbox to the
// manager of their domain (to is ToManager) or to the support address
// (ToSupport), through the normal submission path, and traces that it was
// sent and to whom, never what it says.
func (s *Service) WriteToManager(ctx context.Context, actor Actor, to, subject, text string) error {
	info, err := s.ManagerOf(ctx, actor)
	if err != nil {
		return err
	}
	var rcpt string
	switch to {
	case ToManager:
		rcpt = info.Address
	case ToSupport:
		rcpt = info.Support
	default:
		return fmt.Errorf("%w: write to %q (want manager or support)", ErrInvalid, to)
	}
	if rcpt == "" {
		return fmt.Errorf("%s address: %w", to, ErrNotFound)
	}
	subject, text = strings.TrimSpace(subject), strings.TrimSpace(text)
	switch {
	case subject == "" || text == "":
		return fmt.Errorf("%w: the message needs a subject and a text", ErrInvalid)
	case utf8.RuneCountInString(subject) > MaxManagerSubject || utf8.RuneCountInString(text) > MaxManagerText:
		return fmt.Errorf("%w: subject or text too long", ErrInvalid)
	case !utf8.ValidString(subject) || !utf8.ValidString(text):
		return fmt.Errorf("%w: subject or text is not UTF-8", ErrInvalid)
	}
	a, err := s.Account(ctx, actor.AccountID)
	if err != nil {
		return err
	}
	data, err := s.plainMessage(mail.Address{Name: a.Name, Address: a.Address}, rcpt, subject, text)
	if err != nil {
		return err
	}
	_, err = s.Submit(ctx, actor, Submission{MailFrom: a.Address, Recipients: []string{rcpt}, Data: data})
	if rerr := s.st.Tx(ctx, func(tx *store.Tx) error {
		return s.audit.Record(ctx, tx, actor.audit("manager.write", to, err, rcpt))
	}); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("write to the %s: %w", to, err)
	}
	return nil
}

// plainMessage writes a short text message, UTF-8, quoted-printable.
func (s *Service) plainMessage(from mail.Address, to, subject, text string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", from.String())
	fmt.Fprintf(&b, "To: <%s>\r\n", to)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", s.now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", newMessageID(), s.opts.Hostname)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\n", "\r\n") + "\r\n")); err != nil {
		return nil, fmt.Errorf("write message: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("write message: %w", err)
	}
	return b.Bytes(), nil
}
