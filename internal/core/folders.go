package core

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"caduceus/internal/store"
)

// Delimiter separates the levels of a folder name ("Projets/2026").
const Delimiter = "/"

// ErrHasChildren: a folder with sub-folders cannot be deleted (RFC 5530
// HASCHILDREN). The errors that wrap it also wrap ErrInvalid.
var ErrHasChildren = errors.New("folder has sub-folders")

// Folder is one folder of a mailbox (an IMAP mailbox, RFC 9051 §2.3).
type Folder struct {
	ID            int64
	MailboxID     int64
	Name          string // full name, levels joined by Delimiter; "INBOX" for the inbox
	SpecialUse    string // RFC 6154 attribute (\Sent, \Drafts…) or ""
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      int
	Unseen        int
	Deleted       int // messages flagged \Deleted (RFC 9051 STATUS DELETED)
	Bytes         int64
	Subscribed    bool
}

const folderColumns = `id, mailbox_id, name, special_use, uidvalidity, uidnext, highest_modseq, messages, unseen, deleted, bytes, subscribed`

// Folders lists a mailbox's folders in name order, INBOX first.
func (s *Service) Folders(ctx context.Context, actor Actor, mailboxID int64) ([]Folder, error) {
	if _, err := s.require(ctx, actor, mailboxID, RightLookup); err != nil {
		return nil, err
	}
	rows, err := s.st.Query(ctx, `SELECT `+folderColumns+` FROM folders WHERE mailbox_id = ? ORDER BY CASE WHEN name = 'INBOX' THEN 0 ELSE 1 END, name`, mailboxID)
	if err != nil {
		return nil, fmt.Errorf("list folders: %w", err)
	}
	defer rows.Close()
	var out []Folder
	for rows.Next() {
		f, err := scanFolder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Folder returns a folder by id, with fresh counters. It takes the lookup right.
func (s *Service) Folder(ctx context.Context, actor Actor, folderID int64) (Folder, error) {
	f, _, err := s.folderAccess(ctx, actor, folderID, RightLookup)
	return f, err
}

// FolderByName returns a mailbox's folder by full name; "inbox" in any case is
// the INBOX (RFC 9051 §5.1).
func (s *Service) FolderByName(ctx context.Context, actor Actor, mailboxID int64, name string) (Folder, error) {
	if _, err := s.require(ctx, actor, mailboxID, RightLookup); err != nil {
		return Folder{}, err
	}
	name = canonicalName(name)
	f, err := scanFolder(s.st.QueryRow(ctx, `SELECT `+folderColumns+` FROM folders WHERE mailbox_id = ? AND name = ?`, mailboxID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Folder{}, fmt.Errorf("folder %q: %w", name, ErrNotFound)
	}
	return f, err
}

// FolderByUse returns a mailbox's folder with a special use such as `\Sent`.
func (s *Service) FolderByUse(ctx context.Context, actor Actor, mailboxID int64, use string) (Folder, error) {
	if _, err := s.require(ctx, actor, mailboxID, RightLookup); err != nil {
		return Folder{}, err
	}
	return s.folderByUse(ctx, mailboxID, use)
}

func (s *Service) folderByUse(ctx context.Context, mailboxID int64, use string) (Folder, error) {
	q := `SELECT ` + folderColumns + ` FROM folders WHERE mailbox_id = ? AND special_use = ? ORDER BY id LIMIT 1`
	args := []any{mailboxID, use}
	if use == "" {
		q = `SELECT ` + folderColumns + ` FROM folders WHERE mailbox_id = ? AND name = 'INBOX'`
		args = args[:1]
	}
	f, err := scanFolder(s.st.QueryRow(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return Folder{}, fmt.Errorf("folder %q: %w", use, ErrNotFound)
	}
	return f, err
}

// CreateFolder creates a folder (and any missing parent levels), subscribed,
// as the web app shows it. It takes the create right (RFC 4314 §4, CREATE).
func (s *Service) CreateFolder(ctx context.Context, actor Actor, mailboxID int64, name, specialUse string) (Folder, error) {
	return s.createFolder(ctx, actor, mailboxID, name, specialUse, true)
}

// CreateFolderUnsubscribed is CreateFolder for IMAP CREATE: the folders it
// makes are not subscribed, since IMAP leaves subscriptions to the client,
// which subscribes what it creates if it wants to (RFC 9051 §6.3.4, §6.3.7).
func (s *Service) CreateFolderUnsubscribed(ctx context.Context, actor Actor, mailboxID int64, name, specialUse string) (Folder, error) {
	return s.createFolder(ctx, actor, mailboxID, name, specialUse, false)
}

func (s *Service) createFolder(ctx context.Context, actor Actor, mailboxID int64, name, specialUse string, subscribed bool) (Folder, error) {
	a, err := s.require(ctx, actor, mailboxID, RightCreate)
	if err != nil {
		return Folder{}, err
	}
	name, err = validFolderName(name)
	if err != nil {
		return Folder{}, err
	}
	switch specialUse {
	case "", `\Drafts`, `\Sent`, `\Trash`, `\Junk`, `\Archive`, `\All`, `\Flagged`:
	default:
		return Folder{}, fmt.Errorf("%w: special use %q", ErrInvalid, specialUse)
	}
	var id int64
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		levels := strings.Split(name, Delimiter)
		for i := range levels {
			part := strings.Join(levels[:i+1], Delimiter)
			use := ""
			if i == len(levels)-1 {
				use = specialUse
			}
			var exists int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM folders WHERE mailbox_id = ? AND name = ?`, mailboxID, part).Scan(&exists); err != nil {
				return err
			}
			if exists > 0 {
				if i == len(levels)-1 {
					return fmt.Errorf("folder %q: %w", name, ErrExists)
				}
				continue
			}
			var maxValidity sql.NullInt64
			if err := tx.QueryRow(ctx, `SELECT MAX(uidvalidity) FROM folders WHERE mailbox_id = ?`, mailboxID).Scan(&maxValidity); err != nil {
				return err
			}
			now := s.nowMillis()
			validity := max(uidValidity(now, 0), maxValidity.Int64+1) & 0xffffffff
			if id, err = tx.Insert(ctx, `INSERT INTO folders (mailbox_id, name, special_use, uidvalidity, subscribed, created) VALUES (?, ?, ?, ?, ?, ?)`,
				mailboxID, part, use, validity, boolInt(subscribed), now); err != nil {
				return err
			}
		}
		return s.audit.Record(ctx, tx, actor.audit("folder.create", a.Address, nil, ""))
	})
	if err != nil {
		return Folder{}, fmt.Errorf("create folder: %w", err)
	}
	s.publish(Event{MailboxID: mailboxID, FolderID: id, Kind: EventFolders})
	return s.folder(ctx, id)
}

// RenameFolder renames a folder and its sub-folders. It takes the delete right
// (RFC 4314 §4, RENAME). INBOX cannot be renamed.
func (s *Service) RenameFolder(ctx context.Context, actor Actor, folderID int64, newName string) error {
	f, err := s.folder(ctx, folderID)
	if err != nil {
		return err
	}
	a, err := s.require(ctx, actor, f.MailboxID, RightDeleteFolder|RightCreate)
	if err != nil {
		return err
	}
	if f.Name == "INBOX" {
		return fmt.Errorf("%w: INBOX cannot be renamed", ErrInvalid)
	}
	newName, err = validFolderName(newName)
	if err != nil {
		return err
	}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM folders WHERE mailbox_id = ? AND name = ?`, f.MailboxID, newName).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("folder %q: %w", newName, ErrExists)
		}
		rows, err := tx.Query(ctx, `SELECT id, name FROM folders WHERE mailbox_id = ? AND (name = ? OR name LIKE ? ESCAPE '\')`, f.MailboxID, f.Name, likePrefix(f.Name+Delimiter))
		if err != nil {
			return err
		}
		type rename struct {
			id   int64
			name string
		}
		var todo []rename
		for rows.Next() {
			var r rename
			if err := rows.Scan(&r.id, &r.name); err != nil {
				rows.Close()
				return err
			}
			todo = append(todo, r)
		}
		rows.Close()
		for _, r := range todo {
			if _, err := tx.Exec(ctx, `UPDATE folders SET name = ? WHERE id = ?`, newName+strings.TrimPrefix(r.name, f.Name), r.id); err != nil {
				return err
			}
		}
		return s.audit.Record(ctx, tx, actor.audit("folder.rename", a.Address, nil, ""))
	})
	if err != nil {
		return fmt.Errorf("rename folder: %w", err)
	}
	s.publish(Event{MailboxID: f.MailboxID, FolderID: folderID, Kind: EventFolders})
	return nil
}

// DeleteFolder deletes a folder and its messages. It takes the delete right;
// INBOX and folders with sub-folders cannot be deleted.
func (s *Service) DeleteFolder(ctx context.Context, actor Actor, folderID int64) error {
	f, err := s.folder(ctx, folderID)
	if err != nil {
		return err
	}
	a, err := s.require(ctx, actor, f.MailboxID, RightDeleteFolder)
	if err != nil {
		return err
	}
	if f.Name == "INBOX" {
		return fmt.Errorf("%w: INBOX cannot be deleted", ErrInvalid)
	}
	err = s.st.Tx(ctx, func(tx *store.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM folders WHERE mailbox_id = ? AND name LIKE ? ESCAPE '\'`, f.MailboxID, likePrefix(f.Name+Delimiter)).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: folder %q has sub-folders", ErrInvalid, f.Name)
		}
		if _, err := tx.Exec(ctx, `UPDATE blobs SET refs = refs - (SELECT COUNT(*) FROM messages WHERE folder_id = ? AND blob_id = blobs.id)
			WHERE id IN (SELECT blob_id FROM messages WHERE folder_id = ?)`, folderID, folderID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE mailboxes SET used_bytes = used_bytes - ? WHERE id = ?`, f.Bytes, f.MailboxID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM messages WHERE folder_id = ?`, folderID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM expunged WHERE folder_id = ?`, folderID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM folders WHERE id = ?`, folderID); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("folder.delete", a.Address, nil, fmt.Sprintf("%d messages", f.Messages)))
	})
	if err != nil {
		return fmt.Errorf("delete folder: %w", err)
	}
	s.publish(Event{MailboxID: f.MailboxID, FolderID: folderID, Kind: EventFolders})
	return nil
}

// TrashFolder deletes a folder as the web app's settings do (user guide
// F12): its messages go to the mailbox's Trash first, and it returns how
// many did. It takes the rights of Move and DeleteFolder; INBOX, the Trash
// itself and folders with sub-folders cannot be deleted.
func (s *Service) TrashFolder(ctx context.Context, actor Actor, folderID int64) (int, error) {
	f, err := s.folder(ctx, folderID)
	if err != nil {
		return 0, err
	}
	if _, err := s.require(ctx, actor, f.MailboxID, RightDeleteFolder); err != nil {
		return 0, err
	}
	trash, err := s.folderByUse(ctx, f.MailboxID, `\Trash`)
	if err != nil {
		return 0, err
	}
	if f.Name == "INBOX" || f.ID == trash.ID {
		return 0, fmt.Errorf("%w: folder %q cannot be deleted", ErrInvalid, f.Name)
	}
	var subs int
	if err := s.st.QueryRow(ctx, `SELECT COUNT(*) FROM folders WHERE mailbox_id = ? AND name LIKE ? ESCAPE '\'`, f.MailboxID, likePrefix(f.Name+Delimiter)).Scan(&subs); err != nil {
		return 0, fmt.Errorf("trash folder: %w", err)
	}
	if subs > 0 {
		return 0, fmt.Errorf("%w: %w: %q", ErrInvalid, ErrHasChildren, f.Name)
	}
	msgs, err := s.Messages(ctx, actor, folderID, MessageQuery{})
	if err != nil {
		return 0, err
	}
	if len(msgs) > 0 {
		uids := make([]uint32, len(msgs))
		for i, m := range msgs {
			uids[i] = m.UID
		}
		if _, err := s.Move(ctx, actor, folderID, uids, trash.ID); err != nil {
			return 0, fmt.Errorf("trash folder: %w", err)
		}
	}
	if err := s.DeleteFolder(ctx, actor, folderID); err != nil {
		return 0, err
	}
	return len(msgs), nil
}

// Subscribe sets whether a folder is subscribed (RFC 9051 §6.3.7).
func (s *Service) Subscribe(ctx context.Context, actor Actor, folderID int64, on bool) error {
	f, err := s.folder(ctx, folderID)
	if err != nil {
		return err
	}
	if _, err := s.require(ctx, actor, f.MailboxID, RightLookup); err != nil {
		return err
	}
	if _, err := s.st.Exec(ctx, `UPDATE folders SET subscribed = ? WHERE id = ?`, boolInt(on), folderID); err != nil {
		return fmt.Errorf("subscribe folder %d: %w", folderID, err)
	}
	s.publish(Event{MailboxID: f.MailboxID, FolderID: folderID, Kind: EventFolders})
	return nil
}

func (s *Service) folder(ctx context.Context, id int64) (Folder, error) {
	f, err := scanFolder(s.st.QueryRow(ctx, `SELECT `+folderColumns+` FROM folders WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Folder{}, fmt.Errorf("folder %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Folder{}, fmt.Errorf("load folder %d: %w", id, err)
	}
	return f, nil
}

func scanFolder(r scanner) (Folder, error) {
	var f Folder
	var validity, next, modseq int64
	var sub int
	if err := r.Scan(&f.ID, &f.MailboxID, &f.Name, &f.SpecialUse, &validity, &next, &modseq, &f.Messages, &f.Unseen, &f.Deleted, &f.Bytes, &sub); err != nil {
		return Folder{}, err
	}
	f.UIDValidity, f.UIDNext, f.HighestModSeq, f.Subscribed = uint32(validity), uint32(next), uint64(modseq), sub != 0
	return f, nil
}

func canonicalName(name string) string {
	if strings.EqualFold(name, "INBOX") {
		return "INBOX"
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX"+Delimiter) {
		return "INBOX" + name[5:]
	}
	return name
}

func validFolderName(name string) (string, error) {
	name = strings.Trim(canonicalName(name), Delimiter)
	if name == "" || len(name) > 512 || strings.Contains(name, Delimiter+Delimiter) || strings.ContainsAny(name, "*%\r\n\x00") {
		return "", fmt.Errorf("%w: folder name %q", ErrInvalid, name)
	}
	return name, nil
}

func likePrefix(p string) string {
	return strings.NewReplacer("%", `\%`, "_", `\_`).Replace(p) + "%"
}
