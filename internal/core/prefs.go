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
// (user guide F7, F12).
type Signature struct {
	ID   string
	Name string
	Text string
}

// Limits of what a person may keep in their signatures and profile, in
// characters.
const (
	MaxSignatureName = 100
	MaxSignatureText = 4000
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
	rows, err := s.st.Query(ctx, `SELECT id, name, body FROM web_signatures WHERE account_id = ? ORDER BY created, id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("list signatures: %w", err)
	}
	defer rows.Close()
	var out []Signature
	for rows.Next() {
		var sig Signature
		if err := rows.Scan(&sig.ID, &sig.Name, &sig.Text); err != nil {
			return nil, fmt.Errorf("read signature: %w", err)
		}
		out = append(out, sig)
	}
	return out, rows.Err()
}

// AddSignature keeps a new signature for an account. Name and text must not
// be empty nor longer than MaxSignatureName and MaxSignatureText.
func (s *Service) AddSignature(ctx context.Context, actor Actor, accountID int64, name, text string) (Signature, error) {
	a, err := s.ownPrefs(ctx, actor, accountID)
	if err != nil {
		return Signature{}, err
	}
	if name == "" || text == "" || utf8.RuneCountInString(name) > MaxSignatureName || utf8.RuneCountInString(text) > MaxSignatureText {
		return Signature{}, fmt.Errorf("%w: a signature needs a name of at most %d characters and a text of at most %d",
			ErrInvalid, MaxSignatureName, MaxSignatureText)
	}
	sig := Signature{ID: rand.Text(), Name: name, Text: text}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO web_signatures (id, account_id, name, body, created) VALUES (?, ?, ?, ?, ?)`,
			sig.ID, accountID, name, text, s.nowMillis()); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("signature.add", a.Address, nil, ""))
	})
	if err != nil {
		return Signature{}, fmt.Errorf("add signature: %w", err)
	}
	return sig, nil
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
