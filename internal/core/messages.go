package core

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"caduceus/internal/blob"
	"caduceus/internal/message"
	"caduceus/internal/store"
)

// Flags are the system flags of a message (RFC 9051 §2.3.2).
type Flags uint32

// The system flags.
const (
	FlagSeen Flags = 1 << iota
	FlagAnswered
	FlagFlagged
	FlagDeleted
	FlagDraft
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagSeen, `\Seen`}, {FlagAnswered, `\Answered`}, {FlagFlagged, `\Flagged`}, {FlagDeleted, `\Deleted`}, {FlagDraft, `\Draft`},
}

// ParseFlag returns the system flag named name (any case), or false for a keyword.
func ParseFlag(name string) (Flags, bool) {
	for _, f := range flagNames {
		if strings.EqualFold(f.name, name) {
			return f.f, true
		}
	}
	return 0, false
}

// Names returns the flags as IMAP names.
func (f Flags) Names() []string {
	var out []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// Message is a message's metadata: enough to list, sort, thread and synchronise
// it without opening its encrypted content.
type Message struct {
	ID           int64
	FolderID     int64
	UID          uint32
	ModSeq       uint64
	Flags        Flags
	Keywords     []string
	InternalDate time.Time
	Size         int64
	ThreadID     int64

	MessageID      string
	InReplyTo      string
	References     string
	Date           time.Time // the Date: header; zero when absent or unreadable
	Subject        string
	From           string // "Name <addr>" as in the header, decoded
	To             string
	Cc             string
	Attachments    []string // file names
	HasAttachments bool

	// ref locates the content when the message was listed by Messages, so
	// that OpenListed needs no query.
	ref blob.Ref
	// model is the stored form of the message's model, when it was listed
	// by Messages and its model is computed (see Service.Model).
	model []byte
}

// UIDRange is an inclusive range of UIDs; Hi 0 means no upper bound.
type UIDRange struct{ Lo, Hi uint32 }

// Order is how Messages sorts.
type Order int

// Sort orders of Messages.
const (
	ByUID Order = iota
	ByDateDesc
)

// MessageQuery selects messages of one folder.
type MessageQuery struct {
	UIDs         []UIDRange // nil: every message
	ChangedSince uint64     // when > 0, only messages with a higher MODSEQ
	Order        Order
	Limit        int // 0: no limit
	Offset       int
}

const messageColumns = `id, folder_id, uid, modseq, flags, keywords, internal_date, size, thread_id, message_id, in_reply_to, refs, sent_date, subject, from_addr, to_addrs, cc_addrs, attachments, has_attachments`

// listColumns are messageColumns of messages m with the location of their blob b.
var listColumns = "m." + strings.ReplaceAll(messageColumns, ", ", ", m.") + ", b.segment, b.offset_bytes, b.length, b.size, b.model"

// maxRanges is how many UID ranges one query takes; a longer set is read in
// several queries.
const maxRanges = 32

// Messages lists a folder's messages. It takes the read right.
func (s *Service) Messages(ctx context.Context, actor Actor, folderID int64, q MessageQuery) ([]Message, error) {
	if _, err := s.folderRights(ctx, actor, folderID, RightRead); err != nil {
		return nil, err
	}
	if len(q.UIDs) <= maxRanges {
		return s.messages(ctx, folderID, q)
	}
	// A scattered set: one query per chunk of ranges, never a scan of the
	// whole folder.
	var out []Message
	for lo := 0; lo < len(q.UIDs); lo += maxRanges {
		cq := q
		cq.UIDs = q.UIDs[lo:min(lo+maxRanges, len(q.UIDs))]
		cq.Limit, cq.Offset = 0, 0
		msgs, err := s.messages(ctx, folderID, cq)
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	sort.Slice(out, func(i, j int) bool {
		if q.Order == ByDateDesc {
			return out[i].InternalDate.After(out[j].InternalDate) || out[i].InternalDate.Equal(out[j].InternalDate) && out[i].UID > out[j].UID
		}
		return out[i].UID < out[j].UID
	})
	// Overlapping ranges may have listed a message twice.
	uniq := out[:0]
	for i, m := range out {
		if i == 0 || m.ID != out[i-1].ID {
			uniq = append(uniq, m)
		}
	}
	if q.Offset >= len(uniq) {
		return nil, nil
	}
	uniq = uniq[q.Offset:]
	if q.Limit > 0 && q.Limit < len(uniq) {
		uniq = uniq[:q.Limit]
	}
	return uniq, nil
}

// messages runs one listing query; the caller has checked the rights.
func (s *Service) messages(ctx context.Context, folderID int64, q MessageQuery) ([]Message, error) {
	sqlq := `SELECT ` + listColumns + ` FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE `
	var args []any
	if len(q.UIDs) == 0 {
		sqlq += `m.folder_id = ?`
		args = append(args, folderID)
	} else {
		// Each range names the folder again: SQLite then reads every range
		// from the (folder_id, uid) index (its "multi-index OR"), where
		// "folder_id = ? AND (range OR range)" reads the whole folder.
		var ors []string
		for _, r := range q.UIDs {
			if r.Hi == 0 {
				ors = append(ors, `(m.folder_id = ? AND m.uid >= ?)`)
				args = append(args, folderID, r.Lo)
			} else {
				ors = append(ors, `(m.folder_id = ? AND m.uid BETWEEN ? AND ?)`)
				args = append(args, folderID, min(r.Lo, r.Hi), max(r.Lo, r.Hi))
			}
		}
		sqlq += `(` + strings.Join(ors, " OR ") + `)`
	}
	if q.ChangedSince > 0 {
		sqlq += ` AND m.modseq > ?`
		args = append(args, q.ChangedSince)
	}
	if q.Order == ByDateDesc {
		sqlq += ` ORDER BY m.internal_date DESC, m.uid DESC`
	} else {
		sqlq += ` ORDER BY m.uid`
	}
	if q.Limit > 0 {
		sqlq += ` LIMIT ? OFFSET ?`
		args = append(args, q.Limit, q.Offset)
	}
	rows, err := s.st.Query(ctx, sqlq, args...)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return scanListed(rows)
}

// UIDs returns every UID of a folder in ascending order: the map from sequence
// numbers to UIDs that IMAP sessions keep. It takes the read right.
func (s *Service) UIDs(ctx context.Context, actor Actor, folderID int64) ([]uint32, error) {
	if _, err := s.folderRights(ctx, actor, folderID, RightRead); err != nil {
		return nil, err
	}
	rows, err := s.st.Query(ctx, `SELECT uid FROM messages WHERE folder_id = ? ORDER BY uid`, folderID)
	if err != nil {
		return nil, fmt.Errorf("list uids: %w", err)
	}
	return scanUIDs(rows)
}

// Message returns one message by id. It takes the read right on its mailbox.
func (s *Service) Message(ctx context.Context, actor Actor, id int64) (Message, error) {
	m, err := scanMessage(s.st.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Message{}, fmt.Errorf("message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Message{}, fmt.Errorf("load message %d: %w", id, err)
	}
	if _, err := s.folderRights(ctx, actor, m.FolderID, RightRead); err != nil {
		if errors.Is(err, ErrPermission) {
			return Message{}, fmt.Errorf("message %d: %w", id, ErrNotFound)
		}
		return Message{}, err
	}
	return m, nil
}

// Open returns a reader of a message's raw RFC 5322 content, decrypted on the
// fly and seekable, so doors stream it. It takes the read right.
func (s *Service) Open(ctx context.Context, actor Actor, messageID int64) (*blob.Reader, error) {
	if _, err := s.Message(ctx, actor, messageID); err != nil {
		return nil, err
	}
	ref, err := s.blobRef(ctx, `SELECT b.segment, b.offset_bytes, b.length, b.size FROM blobs b JOIN messages m ON m.blob_id = b.id WHERE m.id = ?`, messageID)
	if err != nil {
		return nil, err
	}
	return s.blobs.Open(ref)
}

// OpenListed returns a reader of a message listed by Messages, without another
// query: Messages checked the read right, and a message's content never
// changes. IMAP FETCH opens whole ranges of messages this way.
func (s *Service) OpenListed(m Message) (*blob.Reader, error) {
	if m.ref.Length == 0 {
		return nil, fmt.Errorf("%w: message %d was not listed by Messages", ErrInvalid, m.ID)
	}
	return s.blobs.Open(m.ref)
}

// Model returns the part tree of a message listed by Messages: its stored
// model, or, for a message stored before models were (until the
// background migration reaches it), one parsed from its content now.
// Like OpenListed it asks no right again.
func (s *Service) Model(m Message) (*message.Part, error) {
	if m.model != nil {
		if p, err := message.Unmarshal(m.model); err == nil {
			return p, nil
		}
		// A model of a version this node does not read: parse.
	}
	rd, err := s.OpenListed(m)
	if err != nil {
		return nil, err
	}
	md, err := message.Parse(io.NewSectionReader(rd, 0, rd.Size()))
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", m.ID, err)
	}
	s.modelFallbacks.Add(1)
	return md.Root, nil
}

// OpenModel returns a reader of a message's content and its part tree. It
// takes the read right.
func (s *Service) OpenModel(ctx context.Context, actor Actor, messageID int64) (*blob.Reader, *message.Part, error) {
	if _, err := s.Message(ctx, actor, messageID); err != nil {
		return nil, nil, err
	}
	var r blob.Ref
	var stored []byte
	err := s.st.QueryRow(ctx, `SELECT b.segment, b.offset_bytes, b.length, b.size, b.model FROM blobs b JOIN messages m ON m.blob_id = b.id WHERE m.id = ?`, messageID).
		Scan(&r.Segment, &r.Offset, &r.Length, &r.Size, &stored)
	if err != nil {
		return nil, nil, fmt.Errorf("message %d: %w", messageID, err)
	}
	rd, err := s.blobs.Open(r)
	if err != nil {
		return nil, nil, err
	}
	if p, err := message.Unmarshal(stored); err == nil {
		return rd, p, nil
	}
	md, err := message.Parse(io.NewSectionReader(rd, 0, rd.Size()))
	if err != nil {
		return nil, nil, fmt.Errorf("message %d: %w", messageID, err)
	}
	s.modelFallbacks.Add(1)
	return rd, md.Root, nil
}

// ReadMessage returns a message's whole raw content.
func (s *Service) ReadMessage(ctx context.Context, actor Actor, messageID int64) ([]byte, error) {
	r, err := s.Open(ctx, actor, messageID)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// FlagOp says how StoreFlags combines flags (RFC 9051 §6.4.6).
type FlagOp int

// The STORE operations.
const (
	FlagsAdd FlagOp = iota
	FlagsRemove
	FlagsReplace
)

// FlagChange is one STORE: which flags and keywords, how, and optionally only on
// messages not changed since a MODSEQ (RFC 7162 §3.1.3 UNCHANGEDSINCE).
type FlagChange struct {
	Op             FlagOp
	Flags          Flags
	Keywords       []string
	UnchangedSince uint64 // 0: no condition
}

// StoreFlags changes the flags of the messages with the given UIDs. Flags the
// actor has no right to change are left alone (RFC 4314 §4): \Seen takes the
// seen right, \Deleted the delete-messages right, others the write right. It
// returns the messages as they are afterwards and the UIDs that failed the
// UNCHANGEDSINCE test.
func (s *Service) StoreFlags(ctx context.Context, actor Actor, folderID int64, uids []uint32, ch FlagChange) ([]Message, []uint32, error) {
	f, a, err := s.folderAccess(ctx, actor, folderID, RightRead)
	if err != nil {
		return nil, nil, err
	}
	allowed := Flags(0)
	if a.Rights.Has(RightSeen) {
		allowed |= FlagSeen
	}
	if a.Rights.Has(RightDeleteMessages) {
		allowed |= FlagDeleted
	}
	keywordsOK := a.Rights.Has(RightWrite)
	if keywordsOK {
		allowed |= FlagAnswered | FlagFlagged | FlagDraft
	}
	if allowed == 0 {
		return nil, nil, fmt.Errorf("flags on %s: %w", a.Address, ErrPermission)
	}
	var changed []Message
	var failed []uint32
	var modseq uint64
	err = s.write(ctx, func(tx *store.Tx) error {
		changed, failed, modseq = nil, nil, 0
		msgs, err := messagesByUID(ctx, tx, folderID, uids)
		if err != nil {
			return err
		}
		unseenDelta, deletedDelta := 0, 0
		for i := range msgs {
			m := &msgs[i]
			if ch.UnchangedSince > 0 && m.ModSeq > ch.UnchangedSince {
				failed = append(failed, m.UID)
				continue
			}
			nf, nk := applyFlags(m.Flags, m.Keywords, ch, allowed, keywordsOK)
			if nf == m.Flags && equalKeywords(nk, m.Keywords) {
				continue
			}
			if m.Flags&FlagSeen != 0 && nf&FlagSeen == 0 {
				unseenDelta++
			} else if m.Flags&FlagSeen == 0 && nf&FlagSeen != 0 {
				unseenDelta--
			}
			if m.Flags&FlagDeleted == 0 && nf&FlagDeleted != 0 {
				deletedDelta++
			} else if m.Flags&FlagDeleted != 0 && nf&FlagDeleted == 0 {
				deletedDelta--
			}
			m.Flags, m.Keywords = nf, nk
			changed = append(changed, *m)
		}
		if len(changed) == 0 {
			return nil
		}
		// One statement takes the change's MODSEQ and counts it.
		if err := tx.QueryRow(ctx, `UPDATE folders SET highest_modseq = highest_modseq + 1, unseen = unseen + ?, deleted = deleted + ? WHERE id = ? RETURNING highest_modseq`,
			unseenDelta, deletedDelta, folderID).Scan(&modseq); err != nil {
			return fmt.Errorf("next modseq: %w", err)
		}
		for i := range changed {
			m := &changed[i]
			m.ModSeq = modseq
			if _, err := tx.Exec(ctx, `UPDATE messages SET flags = ?, keywords = ?, modseq = ? WHERE id = ?`, int64(m.Flags), strings.Join(m.Keywords, " "), modseq, m.ID); err != nil {
				return err
			}
		}
		return nil
	}, func() []Event {
		if len(changed) == 0 {
			return nil
		}
		return []Event{{MailboxID: f.MailboxID, FolderID: folderID, Kind: EventFlags, ModSeq: modseq}}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store flags: %w", err)
	}
	return changed, failed, nil
}

// UIDPair maps a message's UID in its source folder to its UID in the
// destination (RFC 4315 COPYUID).
type UIDPair struct{ Src, Dst uint32 }

// Copy copies messages into another folder, possibly of another mailbox. It takes
// the read right on the source and the insert right on the destination.
func (s *Service) Copy(ctx context.Context, actor Actor, srcFolder int64, uids []uint32, dstFolder int64) ([]UIDPair, error) {
	return s.copyMove(ctx, actor, srcFolder, uids, dstFolder, false)
}

// Move moves messages into another folder (RFC 6851): a copy and an expunge in
// one transaction. It also takes the delete-messages and expunge rights on the
// source.
func (s *Service) Move(ctx context.Context, actor Actor, srcFolder int64, uids []uint32, dstFolder int64) ([]UIDPair, error) {
	return s.copyMove(ctx, actor, srcFolder, uids, dstFolder, true)
}

func (s *Service) copyMove(ctx context.Context, actor Actor, srcFolder int64, uids []uint32, dstFolder int64, move bool) ([]UIDPair, error) {
	want := RightRead
	if move {
		want |= RightDeleteMessages | RightExpunge
	}
	src, srcAcc, err := s.folderAccess(ctx, actor, srcFolder, want)
	if err != nil {
		return nil, err
	}
	dst, dstAcc, err := s.folderAccess(ctx, actor, dstFolder, RightInsert)
	if err != nil {
		return nil, err
	}
	// A move within one folder is allowed: the messages take new UIDs and
	// the old ones are expunged (RFC 6851 §3.3, §4.4).
	var pairs []UIDPair
	var srcModSeq, dstModSeq uint64
	err = s.write(ctx, func(tx *store.Tx) error {
		pairs = nil
		msgs, err := messagesByUID(ctx, tx, srcFolder, uids)
		if err != nil || len(msgs) == 0 {
			return err
		}
		var total int64
		for _, m := range msgs {
			total += m.Size
		}
		if src.MailboxID != dst.MailboxID || !move {
			if err := chargeQuota(ctx, tx, dst.MailboxID, total); err != nil {
				return fmt.Errorf("%s: %w", dstAcc.Address, err)
			}
		}
		if dstModSeq, err = nextModSeq(ctx, tx, dstFolder); err != nil {
			return err
		}
		for _, m := range msgs {
			uid, err := nextUID(ctx, tx, dstFolder)
			if err != nil {
				return err
			}
			flags := m.Flags
			if !dstAcc.Rights.Has(RightSeen) {
				flags &^= FlagSeen
			}
			if _, err := tx.Exec(ctx, `INSERT INTO messages (folder_id, uid, modseq, flags, keywords, internal_date, size, blob_id, thread_id, message_id, in_reply_to, refs, sent_date, subject, from_addr, to_addrs, cc_addrs, attachments, has_attachments)
				SELECT ?, ?, ?, ?, keywords, internal_date, size, blob_id, thread_id, message_id, in_reply_to, refs, sent_date, subject, from_addr, to_addrs, cc_addrs, attachments, has_attachments FROM messages WHERE id = ?`,
				dstFolder, uid, dstModSeq, int64(flags), m.ID); err != nil {
				return err
			}
			if err := addCounters(ctx, tx, dstFolder, 1, boolInt(flags&FlagSeen == 0), boolInt(flags&FlagDeleted != 0), m.Size); err != nil {
				return err
			}
			if !move {
				if _, err := tx.Exec(ctx, `UPDATE blobs SET refs = refs + 1 WHERE id = (SELECT blob_id FROM messages WHERE id = ?)`, m.ID); err != nil {
					return err
				}
			}
			pairs = append(pairs, UIDPair{Src: m.UID, Dst: uid})
		}
		if move {
			if srcModSeq, err = s.removeMessages(ctx, tx, srcFolder, msgs, false); err != nil {
				return err
			}
			if src.MailboxID != dst.MailboxID {
				var total int64
				for _, m := range msgs {
					total += m.Size
				}
				if _, err := tx.Exec(ctx, `UPDATE mailboxes SET used_bytes = used_bytes - ? WHERE id = ?`, total, src.MailboxID); err != nil {
					return err
				}
			}
		}
		action := "copy"
		if move {
			action = "move"
			ids := make([]string, len(msgs))
			for i, m := range msgs {
				ids[i] = m.MessageID
			}
			if err := s.recordHandled(ctx, tx, actor, srcAcc.Mailbox, HandledMoved, dst.Name, ids...); err != nil {
				return err
			}
		}
		return s.audit.Record(ctx, tx, actor.audit(action, srcAcc.Address+" → "+dstAcc.Address, nil, fmt.Sprintf("%d messages", len(msgs))))
	}, func() []Event {
		if len(pairs) == 0 {
			return nil
		}
		events := []Event{{MailboxID: dst.MailboxID, FolderID: dstFolder, Kind: EventNew, ModSeq: dstModSeq}}
		if move {
			events = append(events, Event{MailboxID: src.MailboxID, FolderID: srcFolder, Kind: EventExpunge, ModSeq: srcModSeq})
		}
		return events
	})
	if err != nil {
		return nil, fmt.Errorf("copy messages: %w", err)
	}
	return pairs, nil
}

// Expunge removes for good the messages of a folder flagged \Deleted, limited to
// uids when it is not nil (RFC 4315 UID EXPUNGE). It takes the expunge right and
// returns the UIDs removed.
func (s *Service) Expunge(ctx context.Context, actor Actor, folderID int64, uids []uint32) ([]uint32, error) {
	f, a, err := s.folderAccess(ctx, actor, folderID, RightExpunge)
	if err != nil {
		return nil, err
	}
	var gone []uint32
	var modseq uint64
	err = s.write(ctx, func(tx *store.Tx) error {
		gone = nil
		var msgs []Message
		var err error
		if uids == nil {
			msgs, err = queryMessages(ctx, tx, `SELECT `+messageColumns+` FROM messages WHERE folder_id = ? AND (flags & ?) != 0 ORDER BY uid`, folderID, int64(FlagDeleted))
		} else {
			msgs, err = messagesByUID(ctx, tx, folderID, uids)
		}
		if err != nil {
			return err
		}
		var deleted []Message
		var bytes int64
		for _, m := range msgs {
			if m.Flags&FlagDeleted != 0 {
				deleted = append(deleted, m)
				gone = append(gone, m.UID)
				bytes += m.Size
			}
		}
		if len(deleted) == 0 {
			return nil
		}
		if modseq, err = s.removeMessages(ctx, tx, folderID, deleted, true); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE mailboxes SET used_bytes = used_bytes - ? WHERE id = ?`, bytes, f.MailboxID); err != nil {
			return err
		}
		return s.audit.Record(ctx, tx, actor.audit("expunge", a.Address, nil, fmt.Sprintf("%d messages", len(deleted))))
	}, func() []Event {
		if len(gone) == 0 {
			return nil
		}
		return []Event{{MailboxID: f.MailboxID, FolderID: folderID, Kind: EventExpunge, ModSeq: modseq}}
	})
	if err != nil {
		return nil, fmt.Errorf("expunge: %w", err)
	}
	return gone, nil
}

// Changes returns, from one snapshot, the messages of a folder changed after
// the MODSEQ since, the UIDs expunged after it, and the folder's HIGHESTMODSEQ:
// what a connection reads after an event (RFC 7162 §3.2.5.2). It takes the
// read right.
func (s *Service) Changes(ctx context.Context, actor Actor, folderID int64, since uint64) ([]Message, []uint32, uint64, error) {
	if _, err := s.folderRights(ctx, actor, folderID, RightRead); err != nil {
		return nil, nil, 0, err
	}
	var msgs []Message
	var vanished []uint32
	var highest int64
	err := s.st.ReadTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+listColumns+` FROM messages m JOIN blobs b ON b.id = m.blob_id WHERE m.folder_id = ? AND m.modseq > ? ORDER BY m.uid`, folderID, since)
		if err != nil {
			return err
		}
		if msgs, err = scanListed(rows); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT uid FROM expunged WHERE folder_id = ? AND modseq > ? ORDER BY uid`, folderID, since)
		if err != nil {
			return err
		}
		if vanished, err = scanUIDs(rows); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT highest_modseq FROM folders WHERE id = ?`, folderID).Scan(&highest)
	})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("changes: %w", err)
	}
	return msgs, vanished, uint64(highest), nil
}

// Vanished returns the UIDs expunged from a folder after a MODSEQ, for QRESYNC
// (RFC 7162 §3.2.10). It takes the read right.
func (s *Service) Vanished(ctx context.Context, actor Actor, folderID int64, since uint64) ([]uint32, error) {
	if _, err := s.folderRights(ctx, actor, folderID, RightRead); err != nil {
		return nil, err
	}
	rows, err := s.st.Query(ctx, `SELECT uid FROM expunged WHERE folder_id = ? AND modseq > ? ORDER BY uid`, folderID, since)
	if err != nil {
		return nil, fmt.Errorf("list vanished: %w", err)
	}
	return scanUIDs(rows)
}

// Trace writes an audit entry for an access that changes nothing, such as
// opening a message in the web app or selecting a shared folder over IMAP.
func (s *Service) Trace(ctx context.Context, actor Actor, action, target, detail string) error {
	return s.audit.Write(ctx, actor.audit(action, target, nil, detail))
}

// removeMessages deletes msgs from a folder, records them as expunged and, when
// release is set, drops their blob references. It returns the MODSEQ used.
func (s *Service) removeMessages(ctx context.Context, tx *store.Tx, folderID int64, msgs []Message, release bool) (uint64, error) {
	var bytes int64
	unseen, deleted := 0, 0
	for _, m := range msgs {
		bytes += m.Size
		if m.Flags&FlagSeen == 0 {
			unseen++
		}
		if m.Flags&FlagDeleted != 0 {
			deleted++
		}
	}
	// One statement takes the removal's MODSEQ and uncounts the messages.
	var modseq uint64
	if err := tx.QueryRow(ctx, `UPDATE folders SET highest_modseq = highest_modseq + 1, messages = messages - ?, unseen = unseen - ?, deleted = deleted - ?, bytes = bytes - ? WHERE id = ? RETURNING highest_modseq`,
		len(msgs), unseen, deleted, bytes, folderID).Scan(&modseq); err != nil {
		return 0, fmt.Errorf("next modseq: %w", err)
	}
	for _, m := range msgs {
		if release {
			if _, err := tx.Exec(ctx, `UPDATE blobs SET refs = refs - 1 WHERE id = (SELECT blob_id FROM messages WHERE id = ?)`, m.ID); err != nil {
				return 0, err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM messages WHERE id = ?`, m.ID); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO expunged (folder_id, uid, modseq) VALUES (?, ?, ?)`, folderID, m.UID, modseq); err != nil {
			return 0, err
		}
	}
	return modseq, nil
}

func (s *Service) folderRights(ctx context.Context, actor Actor, folderID int64, want Rights) (Access, error) {
	_, a, err := s.folderAccess(ctx, actor, folderID, want)
	return a, err
}

// folderAccess loads a folder, its mailbox and the actor's rights in one query,
// and fails unless the actor holds every right in want (see require).
func (s *Service) folderAccess(ctx context.Context, actor Actor, folderID int64, want Rights) (Folder, Access, error) {
	var a Access
	var kind string
	var rights sql.NullInt64
	var f Folder
	var validity, next, modseq int64
	var sub int
	err := s.st.QueryRow(ctx, `SELECT f.id, f.mailbox_id, f.name, f.special_use, f.uidvalidity, f.uidnext, f.highest_modseq, f.messages, f.unseen, f.deleted, f.bytes, f.subscribed,
		m.address, m.kind, m.name, COALESCE(m.owner_id, 0), m.quota_bytes, m.used_bytes, r.rights
		FROM folders f JOIN mailboxes m ON m.id = f.mailbox_id LEFT JOIN rights r ON r.mailbox_id = m.id AND r.account_id = ?
		WHERE f.id = ?`, actor.AccountID, folderID).
		Scan(&f.ID, &f.MailboxID, &f.Name, &f.SpecialUse, &validity, &next, &modseq, &f.Messages, &f.Unseen, &f.Deleted, &f.Bytes, &sub,
			&a.Address, &kind, &a.Name, &a.OwnerID, &a.QuotaBytes, &a.UsedBytes, &rights)
	if errors.Is(err, sql.ErrNoRows) {
		return Folder{}, Access{}, fmt.Errorf("folder %d: %w", folderID, ErrNotFound)
	}
	if err != nil {
		return Folder{}, Access{}, fmt.Errorf("load folder %d: %w", folderID, err)
	}
	f.UIDValidity, f.UIDNext, f.HighestModSeq, f.Subscribed = uint32(validity), uint32(next), uint64(modseq), sub != 0
	a.ID, a.Kind = f.MailboxID, Kind(kind)
	a.Rights, a.Owned = effectiveRights(actor, a.OwnerID, Rights(rights.Int64))
	if !a.Rights.Has(RightLookup) {
		return Folder{}, Access{}, fmt.Errorf("folder %d: %w", folderID, ErrNotFound)
	}
	if !a.Rights.Has(want) {
		return Folder{}, Access{}, fmt.Errorf("%s on %s: %w", (want &^ a.Rights).Names(), a.Address, ErrPermission)
	}
	return f, a, nil
}

func (s *Service) blobRef(ctx context.Context, q string, arg any) (blob.Ref, error) {
	var r blob.Ref
	if err := s.st.QueryRow(ctx, q, arg).Scan(&r.Segment, &r.Offset, &r.Length, &r.Size); err != nil {
		return blob.Ref{}, fmt.Errorf("load blob: %w", err)
	}
	return r, nil
}

func nextModSeq(ctx context.Context, tx *store.Tx, folderID int64) (uint64, error) {
	var m int64
	if err := tx.QueryRow(ctx, `UPDATE folders SET highest_modseq = highest_modseq + 1 WHERE id = ? RETURNING highest_modseq`, folderID).Scan(&m); err != nil {
		return 0, fmt.Errorf("next modseq: %w", err)
	}
	return uint64(m), nil
}

func nextUID(ctx context.Context, tx *store.Tx, folderID int64) (uint32, error) {
	var u int64
	if err := tx.QueryRow(ctx, `UPDATE folders SET uidnext = uidnext + 1 WHERE id = ? RETURNING uidnext - 1`, folderID).Scan(&u); err != nil {
		return 0, fmt.Errorf("next uid: %w", err)
	}
	return uint32(u), nil
}

func addCounters(ctx context.Context, tx *store.Tx, folderID int64, messages, unseen, deleted int, bytes int64) error {
	_, err := tx.Exec(ctx, `UPDATE folders SET messages = messages + ?, unseen = unseen + ?, deleted = deleted + ?, bytes = bytes + ? WHERE id = ?`, messages, unseen, deleted, bytes, folderID)
	return err
}

// chargeQuota adds bytes to a mailbox's usage, or fails with ErrQuota.
func chargeQuota(ctx context.Context, tx *store.Tx, mailboxID, bytes int64) error {
	res, err := tx.Exec(ctx, `UPDATE mailboxes SET used_bytes = used_bytes + ? WHERE id = ? AND (quota_bytes = 0 OR used_bytes + ? <= quota_bytes)`, bytes, mailboxID, bytes)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrQuota
	}
	return nil
}

func messagesByUID(ctx context.Context, tx *store.Tx, folderID int64, uids []uint32) ([]Message, error) {
	if len(uids) == 0 {
		return nil, nil
	}
	sorted := append([]uint32(nil), uids...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	msgs, err := queryMessages(ctx, tx, `SELECT `+messageColumns+` FROM messages WHERE folder_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`, folderID, sorted[0], sorted[len(sorted)-1])
	if err != nil {
		return nil, err
	}
	want := make(map[uint32]bool, len(sorted))
	for _, u := range sorted {
		want[u] = true
	}
	out := msgs[:0]
	for _, m := range msgs {
		if want[m.UID] {
			out = append(out, m)
		}
	}
	return out, nil
}

func queryMessages(ctx context.Context, tx *store.Tx, q string, args ...any) ([]Message, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanMessages(rows)
}

// scanMessages reads every row of rows as a Message and closes rows.
func scanMessages(rows *sql.Rows) ([]Message, error) {
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// scanListed reads rows of listColumns and closes rows.
func scanListed(rows *sql.Rows) ([]Message, error) {
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var r blob.Ref
		var model []byte
		m, err := scanMessageWith(rows, &r.Segment, &r.Offset, &r.Length, &r.Size, &model)
		if err != nil {
			return nil, err
		}
		m.ref, m.model = r, model
		out = append(out, m)
	}
	return out, rows.Err()
}

// scanUIDs reads a column of UIDs and closes rows.
func scanUIDs(rows *sql.Rows) ([]uint32, error) {
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u int64
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, uint32(u))
	}
	return out, rows.Err()
}

func scanMessage(r scanner) (Message, error) { return scanMessageWith(r) }

// scanMessageWith scans messageColumns, then extra columns into extra.
func scanMessageWith(r scanner, extra ...any) (Message, error) {
	var m Message
	var uid, modseq, flags, internal, sent int64
	var keywords, attachments string
	var hasAtt int
	dest := []any{&m.ID, &m.FolderID, &uid, &modseq, &flags, &keywords, &internal, &m.Size, &m.ThreadID, &m.MessageID, &m.InReplyTo, &m.References,
		&sent, &m.Subject, &m.From, &m.To, &m.Cc, &attachments, &hasAtt}
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return Message{}, err
	}
	m.UID, m.ModSeq, m.Flags = uint32(uid), uint64(modseq), Flags(flags)
	m.Keywords = strings.Fields(keywords)
	m.InternalDate = time.UnixMilli(internal)
	if sent != 0 {
		m.Date = time.UnixMilli(sent)
	}
	if attachments != "" {
		m.Attachments = strings.Split(attachments, "\n")
	}
	m.HasAttachments = hasAtt != 0
	return m, nil
}

func applyFlags(cur Flags, kw []string, ch FlagChange, allowed Flags, keywordsOK bool) (Flags, []string) {
	want := ch.Flags & allowed
	switch ch.Op {
	case FlagsAdd:
		cur |= want
	case FlagsRemove:
		cur &^= want
	case FlagsReplace:
		cur = cur&^allowed | want
	}
	if !keywordsOK {
		return cur, kw
	}
	set := map[string]bool{}
	if ch.Op != FlagsReplace {
		for _, k := range kw {
			set[k] = true
		}
	}
	for _, k := range ch.Keywords {
		if ch.Op == FlagsRemove {
			delete(set, k)
		} else {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return cur, out
}

func equalKeywords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	sa := append([]string(nil), a...)
	sort.Strings(sa)
	for i := range sa {
		if sa[i] != b[i] {
			return false
		}
	}
	return true
}
