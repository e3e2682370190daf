package web

import (
	"context"
	"fmt"
	"time"

	"caduceus/internal/auth"
)

// prefStore keeps what the web app remembers per person that is not mail:
// their signatures (F7, F12) and their directory profile (F11).
type prefStore struct {
	h auth.SQLHandle
}

type signature struct {
	ID, Name, Text string
}

func openPrefStore(ctx context.Context, h auth.SQLHandle) (*prefStore, error) {
	_, err := h.DB().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS web_signatures (
		id TEXT PRIMARY KEY,
		account_id BIGINT NOT NULL,
		name TEXT NOT NULL,
		body TEXT NOT NULL,
		created BIGINT NOT NULL
	)`)
	if err == nil {
		_, err = h.DB().ExecContext(ctx, `CREATE INDEX IF NOT EXISTS web_signatures_account ON web_signatures (account_id)`)
	}
	if err != nil {
		return nil, fmt.Errorf("web: migrate signatures: %w", err)
	}
	p := &prefStore{h: h}
	if err := migrateProfiles(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *prefStore) signatures(ctx context.Context, account int64) ([]signature, error) {
	rows, err := p.h.DB().QueryContext(ctx, p.h.Rebind(`SELECT id, name, body FROM web_signatures WHERE account_id = ? ORDER BY created, id`), account)
	if err != nil {
		return nil, fmt.Errorf("web: list signatures: %w", err)
	}
	defer rows.Close()
	var out []signature
	for rows.Next() {
		var s signature
		if err := rows.Scan(&s.ID, &s.Name, &s.Text); err != nil {
			return nil, fmt.Errorf("web: read signature: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (p *prefStore) addSignature(ctx context.Context, account int64, name, text string) error {
	id := fmt.Sprintf("%x", randomBytes(8))
	_, err := p.h.DB().ExecContext(ctx, p.h.Rebind(`INSERT INTO web_signatures (id, account_id, name, body, created) VALUES (?, ?, ?, ?, ?)`),
		id, account, name, text, time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("web: add signature: %w", err)
	}
	return nil
}

func (p *prefStore) deleteSignature(ctx context.Context, account int64, id string) error {
	_, err := p.h.DB().ExecContext(ctx, p.h.Rebind(`DELETE FROM web_signatures WHERE id = ? AND account_id = ?`), id, account)
	if err != nil {
		return fmt.Errorf("web: delete signature: %w", err)
	}
	return nil
}
