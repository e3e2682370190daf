package core

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"unicode/utf8"

	"caduceus/internal/store"
)

// Signature is a closing text a person keeps to add to their messages
// (user guide F7, F12). HTML, when not empty, is the formatted form, which
// the web app sanitises before it is kept and again before it is sent; Text
// is then the text/plain form made from it.
type Signature struct {
	ID   string
	Name string
	Text string
	HTML string
	// MailboxID is the mailbox the signature is for, 0 for every mailbox
	// the person sends from.
	MailboxID int64
	// Default marks the signature that new messages, replies and forwards
	// from that mailbox (or from any, when MailboxID is 0) get.
	Default bool
}

// Limits of what a person may keep in their signatures and profile, in
// characters.
const (
	MaxSignatureName = 100
	MaxSignatureText = 4000
	MaxSignatureHTML = 16000
	MaxProfileField  = 200
)

// Profile is what a person says of themselves in the directory of health
// professionals (F11): whether they are listed, whether their mailbox accepts
// documents in place of paper, their profession and place.
type Profile struct {
	Listed         bool
	Dematerialised bool
	Profession     string // a code of professions
	Specialty      string
	Organisation   string
	City           string
	Postcode       string
}

// DefaultProfile is the profile of a person who never set one: listed,
// nothing else said.
var DefaultProfile = Profile{Listed: true}

// ownPrefs checks that actor may read or change the signatures and profile of
// account id: only its holder may, and the system (which publishes profiles in
// the directory). It returns the account.
func (s *Service) ownPrefs(ctx context.Context, actor Actor, id int64) (Account, error) {
	if !actor.IsSystem() && actor.AccountID != id {
		return Account{}, ErrPermission
	}
	return s.Account(ctx, id)
}

// Signatures lists an account's signatures, oldest first.
func (s *Service) Signatures(ctx context.Context, actor Actor, accountID int64) ([]Signature, error) {
	if _, err := s.ownPrefs(ctx, actor, accountID); err != nil {
		return nil, err
	}
	rows, err := s.st.Query(ctx, `SELECT id, name, body, html, mailbox_id, is_default FROM web_signatures
		WHERE account_id = ? ORDER BY created, id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list signatures: %w", err)
	}
	defer rows.Close()
	var out []Signature
	for rows.Next() {
		var sig Signature
		var def int
		if err := rows.Scan(&sig.ID, &sig.Name, &sig.Text, &sig.HTML, &sig.MailboxID, &def); err != nil {
			return nil, fmt.Errorf("read signature: %w", err)
		}
		sig.Default = def != 0
		out = append(out, sig)
	}
	return out, rows.Err()
}

// SignaturesFor lists the signatures an account may use in a message from
// a mailbox (those for that mailbox, then those for every mailbox) and
// names the one a new message gets: the default for that mailbox, or else
// the default for every mailbox, or "" for none.
func (s *Service) SignaturesFor(ctx context.Context, actor Actor, accountID, mailboxID int64) ([]Signature, string, error) {
	all, err := s.Signatures(ctx, actor, accountID)
	if err != nil {
		return nil, "", err
	}
	var own, every []Signature
	var def, everyDef string
	for _, sig := range all {
		switch sig.MailboxID {
		case mailboxID:
			own = append(own, sig)
			if sig.Default {
				def = sig.ID
			}
		case 0:
			every = append(every, sig)
			if sig.Default {
				everyDef = sig.ID
			}
		}
	}
	if def == "" {
		def = everyDef
	}
	return append(own, every...), def, nil
}

// AddSignature keeps a new plain-text signature for every mailbox of an
// account, as SaveSignature does.
func (s *Service) AddSignature(ctx context.Context, actor Actor, accountID int64, name, text string) (Signature, error) {
	return s.SaveSignature(ctx, actor, accountID, Signature{Name: name, Text: text})
}

// SaveSignature keeps a signature: a new one when sig.ID is empty, else it
// replaces the account's signature of that ID. Name and text must not be
// empty nor longer than MaxSignatureName and MaxSignatureText, the HTML not
// longer than MaxSignatureHTML; the mailbox, when not 0, must be one the
// account may send from. A default signature takes the mark from the
// previous default of the same mailbox.
func (s *Service) SaveSignature(ctx context.Context, actor Actor, accountID int64, sig Signature) (Signature, error) {
	a, err := s.ownPrefs(ctx, actor, accountID)
	if err != nil {
		return Signature{}, err
	}
	if sig.Name == "" || sig.Text == "" || utf8.RuneCountInString(sig.Name) > MaxSignatureName ||
		utf8.RuneCountInString(sig.Text) > MaxSignatureText || len(sig.HTML) > MaxSignatureHTML {
		return Signature{}, fmt.Errorf("%w: a signature needs a name of at most %d characters and a text of at most %d",
			ErrInvalid, MaxSignatureName, MaxSignatureText)
	}
	if sig.MailboxID != 0 {
		if err := s.maySendFrom(ctx, Actor{AccountID: accountID}, sig.MailboxID); err != nil {
			return Signature{}, err
		}
	}
	action := "signature.save"
	if sig.ID == "" {
		sig.ID, action = rand.Text(), "signature.add"
	}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		if sig.Default {
			if err := clearDefault(ctx, tx, accountID, sig.MailboxID); err != nil {
				return err
			}
		}
		if action == "signature.add" {
			if _, err := tx.Exec(ctx, `INSERT INTO web_signatures (id, account_id, name, body, html, mailbox_id, is_default, created)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
				sig.ID, accountID, sig.Name, sig.Text, sig.HTML, sig.MailboxID, boolInt(sig.Default), s.nowMillis()); err != nil {
				return err
			}
		} else {
			res, err := tx.Exec(ctx, `UPDATE web_signatures SET name = ?, body = ?, html = ?, mailbox_id = ?, is_default = ?
				WHERE id = ? AND account_id = ?`, sig.Name, sig.Text, sig.HTML, sig.MailboxID, boolInt(sig.Default), sig.ID, accountID)
			if err != nil {
				return err
			}
			if err := oneRow(res, sig.ID); err != nil {
				return err
			}
		}
		return s.audit.Record(ctx, tx, actor.audit(action, a.Address, nil, ""))
	})
	if err != nil {
		return Signature{}, fmt.Errorf("save signature: %w", err)
	}
	return sig, nil
}

// SetDefaultSignature makes one of an account's signatures the default of
// its mailbox, or, with on false, leaves that mailbox with no default.
func (s *Service) SetDefaultSignature(ctx context.Context, actor Actor, accountID int64, id string, on bool) error {
	a, err := s.ownPrefs(ctx, actor, accountID)
	if err != nil {
		return err
	}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		var box int64
		err := tx.QueryRow(ctx, `SELECT mailbox_id FROM web_signatures WHERE id = ? AND account_id = ?`, id, accountID).Scan(&box)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("signature %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := clearDefault(ctx, tx, accountID, box); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE web_signatures SET is_default = ? WHERE id = ?`, boolInt(on), id); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("signature.default", a.Address, nil, ""))
	})
	if err != nil {
		return fmt.Errorf("default signature: %w", err)
	}
	return nil
}

func clearDefault(ctx context.Context, tx *store.Tx, accountID, mailboxID int64) error {
	_, err := tx.Exec(ctx, `UPDATE web_signatures SET is_default = 0 WHERE account_id = ? AND mailbox_id = ?`, accountID, mailboxID)
	return err
}

// maySendFrom fails unless actor owns the mailbox or may send as it or on
// its behalf.
func (s *Service) maySendFrom(ctx context.Context, actor Actor, mailboxID int64) error {
	m, err := s.access(ctx, actor, mailboxID)
	if err != nil {
		return err
	}
	if !m.Owned && !m.Rights.Has(RightSendAs) && !m.Rights.Has(RightSendOnBehalf) {
		return fmt.Errorf("%w: %s is not a mailbox you send from", ErrPermission, m.Address)
	}
	return nil
}

func oneRow(res sql.Result, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("signature %s: %w", id, ErrNotFound)
	}
	return nil
}

// DeleteSignature removes one of an account's signatures.
func (s *Service) DeleteSignature(ctx context.Context, actor Actor, accountID int64, id string) error {
	a, err := s.ownPrefs(ctx, actor, accountID)
	if err != nil {
		return err
	}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM web_signatures WHERE id = ? AND account_id = ?`, id, accountID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("signature %s: %w", id, ErrNotFound)
		}
		return s.audit.Record(ctx, tx, actor.audit("signature.delete", a.Address, nil, ""))
	})
	if err != nil {
		return fmt.Errorf("delete signature: %w", err)
	}
	return nil
}

// Profile returns an account's directory profile, or DefaultProfile when
// they never set one.
func (s *Service) Profile(ctx context.Context, actor Actor, accountID int64) (Profile, error) {
	if _, err := s.ownPrefs(ctx, actor, accountID); err != nil {
		return Profile{}, err
	}
	var p Profile
	var listed, demat int
	err := s.st.QueryRow(ctx, `SELECT listed, dematerialised, profession, specialty, organisation, city, postcode
		FROM web_directory_profiles WHERE account_id = ?`, accountID).
		Scan(&listed, &demat, &p.Profession, &p.Specialty, &p.Organisation, &p.City, &p.Postcode)
	if errors.Is(err, sql.ErrNoRows) {
		return DefaultProfile, nil
	}
	if err != nil {
		return Profile{}, fmt.Errorf("read directory profile: %w", err)
	}
	p.Listed, p.Dematerialised = listed != 0, demat != 0
	return p, nil
}

// SaveProfile creates or replaces an account's directory profile. No field
// may be longer than MaxProfileField.
func (s *Service) SaveProfile(ctx context.Context, actor Actor, accountID int64, p Profile) error {
	a, err := s.ownPrefs(ctx, actor, accountID)
	if err != nil {
		return err
	}
	for _, f := range []string{p.Profession, p.Specialty, p.Organisation, p.City, p.Postcode} {
		if utf8.RuneCountInString(f) > MaxProfileField {
			return fmt.Errorf("%w: a profile field is longer than %d characters", ErrInvalid, MaxProfileField)
		}
	}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO web_directory_profiles
			(account_id, listed, dematerialised, profession, specialty, organisation, city, postcode)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET listed = excluded.listed, dematerialised = excluded.dematerialised,
			profession = excluded.profession, specialty = excluded.specialty, organisation = excluded.organisation,
			city = excluded.city, postcode = excluded.postcode`,
			accountID, boolInt(p.Listed), boolInt(p.Dematerialised), p.Profession, p.Specialty, p.Organisation, p.City, p.Postcode); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("profile.save", a.Address, nil, ""))
	})
	if err != nil {
		return fmt.Errorf("save directory profile: %w", err)
	}
	return nil
}

// SetListed sets whether an account is published in the directory of
// health professionals or on its red list (liste rouge): the one setting
// that "Vos informations personnelles" and "Votre correspondance MSSanté"
// both show. The rest of the profile is kept.
func (s *Service) SetListed(ctx context.Context, actor Actor, accountID int64, listed bool) error {
	a, err := s.ownPrefs(ctx, actor, accountID)
	if err != nil {
		return err
	}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO web_directory_profiles
			(account_id, listed, dematerialised, profession, specialty, organisation, city, postcode)
			VALUES (?, ?, 0, '', '', '', '', '')
			ON CONFLICT (account_id) DO UPDATE SET listed = excluded.listed`, accountID, boolInt(listed)); err != nil {
			return err
		}
		detail := "listed"
		if !listed {
			detail = "red list"
		}
		return s.audit.Record(ctx, tx, actor.audit("profile.listed", a.Address, nil, detail))
	})
	if err != nil {
		return fmt.Errorf("set directory listing: %w", err)
	}
	return nil
}
