package core

import (
	"context"
	"database/sql"
	"fmt"

	"caduceus/internal/store"
)

// ClaimRecent gives the caller the messages of a folder that arrived since
// the last claim: the UIDs above from and up to to are \Recent for the
// caller's session alone (RFC 3501 §2.3.2), and for no session that
// claims after it. from == to when there is nothing new. It takes the read
// right; only sessions that opened the folder read-write should claim.
func (s *Service) ClaimRecent(ctx context.Context, actor Actor, folderID int64) (from, to uint32, err error) {
	if _, err := s.folderRights(ctx, actor, folderID, RightRead); err != nil {
		return 0, 0, err
	}
	var recent, next int64
	if err := s.st.QueryRow(ctx, `SELECT recent_uid, uidnext FROM folders WHERE id = ?`, folderID).Scan(&recent, &next); err != nil {
		return 0, 0, fmt.Errorf("read recent of folder %d: %w", folderID, err)
	}
	if recent >= next-1 {
		return uint32(recent), uint32(recent), nil
	}
	err = s.write(ctx, func(tx *store.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT recent_uid, uidnext FROM folders WHERE id = ?`, folderID).Scan(&recent, &next); err != nil {
			return fmt.Errorf("read recent of folder %d: %w", folderID, err)
		}
		if recent >= next-1 {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE folders SET recent_uid = ? WHERE id = ?`, next-1, folderID)
		return err
	}, func() []Event { return nil })
	if err != nil {
		return 0, 0, fmt.Errorf("claim recent of folder %d: %w", folderID, err)
	}
	return uint32(recent), uint32(max(recent, next-1)), nil
}

// RecentUID returns the highest UID of a folder already claimed as \Recent
// by a session: the messages above it are recent for whichever session
// claims them (RFC 3501 §2.3.2). It takes the read right.
func (s *Service) RecentUID(ctx context.Context, actor Actor, folderID int64) (uint32, error) {
	if _, err := s.folderRights(ctx, actor, folderID, RightRead); err != nil {
		return 0, err
	}
	var recent int64
	if err := s.st.QueryRow(ctx, `SELECT recent_uid FROM folders WHERE id = ?`, folderID).Scan(&recent); err != nil {
		return 0, fmt.Errorf("read recent of folder %d: %w", folderID, err)
	}
	return uint32(recent), nil
}

// RecentCount returns how many messages of a folder no session has claimed
// as \Recent yet, for STATUS RECENT (RFC 3501 §6.3.10). It takes the read
// right.
func (s *Service) RecentCount(ctx context.Context, actor Actor, folderID int64) (int, error) {
	if _, err := s.folderRights(ctx, actor, folderID, RightRead); err != nil {
		return 0, err
	}
	var n int
	err := s.st.QueryRow(ctx, `SELECT COUNT(*) FROM messages WHERE folder_id = ? AND uid > (SELECT recent_uid FROM folders WHERE id = ?)`, folderID, folderID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recent of folder %d: %w", folderID, err)
	}
	return n, nil
}

// FirstUnseen returns the lowest UID of a folder's messages without
// \Seen, or 0 when every message is seen, for the UNSEEN code of an
// IMAP4rev1 SELECT (RFC 3501 §7.1). It takes the read right.
func (s *Service) FirstUnseen(ctx context.Context, actor Actor, folderID int64) (uint32, error) {
	if _, err := s.folderRights(ctx, actor, folderID, RightRead); err != nil {
		return 0, err
	}
	var uid sql.NullInt64
	err := s.st.QueryRow(ctx, `SELECT MIN(uid) FROM messages WHERE folder_id = ? AND (flags & ?) = 0`, folderID, int64(FlagSeen)).Scan(&uid)
	if err != nil {
		return 0, fmt.Errorf("first unseen of folder %d: %w", folderID, err)
	}
	return uint32(uid.Int64), nil
}
