package core

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"caduceus/internal/auth"
	"caduceus/internal/store"
)

// Device is a phone or mail client enrolled to reach a person's mail over
// IMAP and SMTP submission with a credential of its own (F16). Only a keyed
// hash of the credential is kept: it is shown once, at enrolment.
type Device struct {
	ID         int64
	AccountID  int64
	Name       string
	Created    time.Time
	LastUsed   time.Time // zero until first used
	LastRemote string    // network address of the last use
}

// deviceTouchEvery is how stale a device's last use may get before a login
// writes it again: a client reconnecting every few seconds costs no write
// each time, and "last used" stays true to the minute.
const deviceTouchEvery = time.Minute

// AddDevice enrols a device for the account at address and returns it with
// its credential, in clear this once. A person enrols their own devices;
// the system (operator commands) anyone's.
func (s *Service) AddDevice(ctx context.Context, actor Actor, address, name string) (Device, string, error) {
	a, err := s.deviceOwner(ctx, actor, address)
	if err != nil {
		return Device{}, "", err
	}
	name, err = deviceName(name)
	if err != nil {
		return Device{}, "", err
	}
	token, err := auth.NewDeviceToken()
	if err != nil {
		return Device{}, "", fmt.Errorf("draw device credential: %w", err)
	}
	now := s.now()
	d := Device{AccountID: a.ID, Name: name, Created: time.UnixMilli(now.UnixMilli())}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		id, err := tx.Insert(ctx, `INSERT INTO devices (account_id, name, token_hash, created) VALUES (?, ?, ?, ?)`,
			a.ID, name, auth.DeviceTokenHash(s.opts.DeviceKey, token), now.UnixMilli())
		if err != nil {
			return err
		}
		d.ID = id
		return s.audit.Record(ctx, tx, actor.audit("device.add", a.Address, nil, "device="+strconv.FormatInt(id, 10)))
	})
	if err != nil {
		return Device{}, "", fmt.Errorf("add device: %w", err)
	}
	return d, token, nil
}

// Devices lists the devices of the account at address, newest first. Its
// owner, the system and the managers of its domain may list them.
func (s *Service) Devices(ctx context.Context, actor Actor, address string) ([]Device, error) {
	a, err := s.deviceHolder(ctx, actor, address)
	if err != nil {
		return nil, err
	}
	rows, err := s.st.Query(ctx, `SELECT id, account_id, name, created, last_used, last_remote FROM devices WHERE account_id = ? ORDER BY created DESC, id DESC`, a.ID)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var out []Device
	for rows.Next() {
		var d Device
		var created, used int64
		if err := rows.Scan(&d.ID, &d.AccountID, &d.Name, &created, &used, &d.LastRemote); err != nil {
			return nil, err
		}
		d.Created = time.UnixMilli(created)
		if used != 0 {
			d.LastUsed = time.UnixMilli(used)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// RenameDevice gives a device of the account at address a new name.
func (s *Service) RenameDevice(ctx context.Context, actor Actor, address string, id int64, name string) error {
	a, err := s.deviceOwner(ctx, actor, address)
	if err != nil {
		return err
	}
	if name, err = deviceName(name); err != nil {
		return err
	}
	return s.st.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `UPDATE devices SET name = ? WHERE id = ? AND account_id = ?`, name, id, a.ID)
		if err != nil {
			return fmt.Errorf("rename device: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("device %d: %w", id, ErrNotFound)
		}
		return s.audit.Record(ctx, tx, actor.audit("device.rename", a.Address, nil, "device="+strconv.FormatInt(id, 10)))
	})
}

// RevokeDevice ends a device's access at once: its credential stops
// working, and every door is told (WatchRevocations) to close the
// connections it opened, on every node. Its owner, the system and the
// managers of its domain may revoke it.
func (s *Service) RevokeDevice(ctx context.Context, actor Actor, address string, id int64) error {
	a, err := s.deviceHolder(ctx, actor, address)
	if err != nil {
		return err
	}
	cred := "device:" + strconv.FormatInt(id, 10)
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM devices WHERE id = ? AND account_id = ?`, id, a.ID)
		if err != nil {
			return fmt.Errorf("revoke device: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("device %d: %w", id, ErrNotFound)
		}
		if err := s.notifyRevoked(ctx, tx, cred); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("device.revoke", a.Address, nil, "device="+strconv.FormatInt(id, 10)))
	})
	if err != nil {
		return err
	}
	s.revoked.publish(cred)
	return nil
}

// deviceOwner returns the account whose devices the actor manages.
func (s *Service) deviceOwner(ctx context.Context, actor Actor, address string) (Account, error) {
	a, err := s.User(ctx, address)
	if err != nil {
		return Account{}, err
	}
	if !actor.IsSystem() && actor.AccountID != a.ID {
		return Account{}, ErrPermission
	}
	return a, nil
}

// deviceHolder returns the account whose devices the actor may list and
// revoke: their own, or one of a domain they manage.
func (s *Service) deviceHolder(ctx context.Context, actor Actor, address string) (Account, error) {
	a, err := s.User(ctx, address)
	if err != nil {
		return Account{}, err
	}
	if actor.AccountID != a.ID {
		if err := s.mayManageAddress(ctx, actor, a.Address); err != nil {
			return Account{}, err
		}
	}
	return a, nil
}

func deviceName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 80 || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "", fmt.Errorf("%w: a device name of 1 to 80 printable characters is required", ErrInvalid)
	}
	return name, nil
}

// checkDevice finds the device of a credential: one indexed look-up of its
// keyed hash. The login address must be the device's account's.
func (s *Service) checkDevice(ctx context.Context, att attempt, token string) (verified, error) {
	var id, accountID, used int64
	err := s.st.QueryRow(ctx, `SELECT id, account_id, last_used FROM devices WHERE token_hash = ?`,
		auth.DeviceTokenHash(s.opts.DeviceKey, token)).Scan(&id, &accountID, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return verified{}, errUnknownCredential
	}
	if err != nil {
		return verified{}, err
	}
	v, err := s.lookupAccountState(ctx, accountID)
	if err != nil {
		return verified{}, err
	}
	if att.address != v.address {
		return verified{}, errUnknownCredential
	}
	v.credential = "device:" + strconv.FormatInt(id, 10)
	now := s.now()
	if now.Sub(time.UnixMilli(used)) >= deviceTouchEvery {
		if _, err := s.st.Exec(ctx, `UPDATE devices SET last_used = ?, last_remote = ? WHERE id = ?`, now.UnixMilli(), host(att.remote), id); err != nil {
			return verified{}, fmt.Errorf("note device use: %w", err)
		}
	}
	return v, nil
}
