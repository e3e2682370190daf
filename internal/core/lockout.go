package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/emersion/go-message/mail"
)

// sendLockoutNotice tells the owner of the account at address, at their
// notification address (their own mailbox when they gave none), that
// logins by password and code are suspended until until. It says nothing an
// attacker reading it could use: no network address, no count, no secret.
// An address without an account gets nothing, silently.
func (s *Service) sendLockoutNotice(ctx context.Context, address string, until time.Time) error {
	a, err := s.User(ctx, address)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrInvalid) {
		return nil
	}
	if err != nil {
		return err
	}
	to := a.NotifyEmail
	if to == "" {
		to = a.Address
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.UTC
	}
	at := until.In(paris).Format("02/01/2006 15:04 MST")
	body := fmt.Sprintf(`Bonjour,

De nombreuses tentatives de connexion ont échoué sur votre compte Caduceus %s.
Par sécurité, la connexion par mot de passe et par code est suspendue jusqu'au %s.
Vos appareils mobiles et logiciels de messagerie enrôlés continuent de fonctionner.

Si ce n'était pas vous, vous n'avez rien à faire : votre compte n'a pas été ouvert.
Vous pouvez changer votre mot de passe dans « Gestion de votre compte ».

--
Hello,

Many sign-in attempts failed on your Caduceus account %s.
For your safety, sign-in by password and code is suspended until %s.
Your enrolled devices and mail clients keep working.

If it was not you, there is nothing to do: your account was not opened.
You may change your password under "Account settings".
`, a.Address, at, a.Address, at)
	var h mail.Header
	h.SetAddressList("From", []*mail.Address{{Name: "Caduceus", Address: "noreply@" + s.opts.Hostname}})
	h.SetAddressList("To", []*mail.Address{{Address: to}})
	h.SetSubject("Caduceus : connexion temporairement suspendue / sign-in temporarily suspended")
	h.SetDate(s.now())
	if err := h.GenerateMessageIDWithHostname(s.opts.Hostname); err != nil {
		return fmt.Errorf("lockout notice: %w", err)
	}
	h.Set("Auto-Submitted", "auto-generated") // RFC 3834 §5
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return fmt.Errorf("lockout notice: %w", err)
	}
	io.WriteString(w, body)
	if err := w.Close(); err != nil {
		return fmt.Errorf("lockout notice: %w", err)
	}
	return s.SendNotice(ctx, System("auth"), to, "lockout", buf.Bytes())
}
