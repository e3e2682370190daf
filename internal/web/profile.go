package web

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// profile is what a person says of themselves in the directory, on the
// account page: whether they are listed, whether their mailbox accepts
// documents in place of paper, their profession and place.
type profile struct {
	Listed         bool
	Dematerialised bool
	Profession     string // a code of professions
	Specialty      string
	Organisation   string
	City           string
	Postcode       string
}

// defaultProfile is the profile of a person who never set one: listed,
// nothing else said.
var defaultProfile = profile{Listed: true}

func migrateProfiles(ctx context.Context, p *prefStore) error {
	_, err := p.h.DB().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS web_directory_profiles (
		account_id BIGINT PRIMARY KEY,
		listed INTEGER NOT NULL,
		dematerialised INTEGER NOT NULL,
		profession TEXT NOT NULL,
		specialty TEXT NOT NULL,
		organisation TEXT NOT NULL,
		city TEXT NOT NULL,
		postcode TEXT NOT NULL
	)`)
	if err != nil {
		return fmt.Errorf("web: migrate directory profiles: %w", err)
	}
	return nil
}

// profile returns an account's directory profile, or defaultProfile.
func (p *prefStore) profile(ctx context.Context, account int64) (profile, error) {
	var pr profile
	var listed, demat int
	err := p.h.DB().QueryRowContext(ctx, p.h.Rebind(`SELECT listed, dematerialised, profession, specialty, organisation, city, postcode
		FROM web_directory_profiles WHERE account_id = ?`), account).
		Scan(&listed, &demat, &pr.Profession, &pr.Specialty, &pr.Organisation, &pr.City, &pr.Postcode)
	if errors.Is(err, sql.ErrNoRows) {
		return defaultProfile, nil
	}
	if err != nil {
		return profile{}, fmt.Errorf("web: read directory profile: %w", err)
	}
	pr.Listed, pr.Dematerialised = listed != 0, demat != 0
	return pr, nil
}

// saveProfile creates or replaces an account's directory profile.
func (p *prefStore) saveProfile(ctx context.Context, account int64, pr profile) error {
	_, err := p.h.DB().ExecContext(ctx, p.h.Rebind(`INSERT INTO web_directory_profiles
		(account_id, listed, dematerialised, profession, specialty, organisation, city, postcode)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account_id) DO UPDATE SET listed = excluded.listed, dematerialised = excluded.dematerialised,
		profession = excluded.profession, specialty = excluded.specialty, organisation = excluded.organisation,
		city = excluded.city, postcode = excluded.postcode`),
		account, boolInt(pr.Listed), boolInt(pr.Dematerialised), pr.Profession, pr.Specialty, pr.Organisation, pr.City, pr.Postcode)
	if err != nil {
		return fmt.Errorf("web: save directory profile: %w", err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
