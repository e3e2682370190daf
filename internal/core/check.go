package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"

	"caduceus/internal/blob"
	"caduceus/internal/store"
)

// FolderStats are a folder's counters, without any content.
type FolderStats struct {
	Folder   string `json:"folder"`
	Messages int    `json:"messages"`
	Unseen   int    `json:"unseen"`
	Bytes    int64  `json:"bytes"`
}

// Stats returns the counters of every folder of a mailbox.
func (s *Service) Stats(ctx context.Context, actor Actor, mailboxID int64) ([]FolderStats, error) {
	folders, err := s.Folders(ctx, actor, mailboxID)
	if err != nil {
		return nil, err
	}
	out := make([]FolderStats, len(folders))
	for i, f := range folders {
		out[i] = FolderStats{Folder: f.Name, Messages: f.Messages, Unseen: f.Unseen, Bytes: f.Bytes}
	}
	return out, nil
}

// Problem is one inconsistency Check found.
type Problem struct {
	What string
}

func (p Problem) String() string { return p.What }

// Check verifies the store: every message's and queued entry's blob is present
// and decrypts, every folder's counters match its messages, every blob's
// reference count matches its users, every blob row points into a segment on
// disk (none into one compaction removed), and the audit chain is intact. progress,
// when not nil, is called with the number of blobs checked so far.
func (s *Service) Check(ctx context.Context, progress func(done, total int)) ([]Problem, error) {
	var problems []Problem
	add := func(format string, args ...any) { problems = append(problems, Problem{fmt.Sprintf(format, args...)}) }

	rows, err := s.st.Query(ctx, `SELECT f.id, f.name, m.address, f.messages, f.unseen, f.deleted, f.bytes,
		(SELECT COUNT(*) FROM messages WHERE folder_id = f.id),
		(SELECT COUNT(*) FROM messages WHERE folder_id = f.id AND (flags & 1) = 0),
		(SELECT COUNT(*) FROM messages WHERE folder_id = f.id AND (flags & 8) != 0),
		(SELECT COALESCE(SUM(size), 0) FROM messages WHERE folder_id = f.id),
		(SELECT COALESCE(MAX(uid), 0) FROM messages WHERE folder_id = f.id), f.uidnext
		FROM folders f JOIN mailboxes m ON m.id = f.mailbox_id ORDER BY f.id`)
	if err != nil {
		return nil, fmt.Errorf("check folders: %w", err)
	}
	for rows.Next() {
		var id int64
		var name, mb string
		var msgs, unseen, deleted, bytes, realMsgs, realUnseen, realDeleted, realBytes, maxUID, uidnext int64
		if err := rows.Scan(&id, &name, &mb, &msgs, &unseen, &deleted, &bytes, &realMsgs, &realUnseen, &realDeleted, &realBytes, &maxUID, &uidnext); err != nil {
			rows.Close()
			return nil, err
		}
		if msgs != realMsgs || unseen != realUnseen || deleted != realDeleted || bytes != realBytes {
			add("folder %d (%s of %s): counters say %d messages, %d unseen, %d deleted, %d bytes; messages say %d, %d, %d, %d",
				id, name, mb, msgs, unseen, deleted, bytes, realMsgs, realUnseen, realDeleted, realBytes)
		}
		if maxUID >= uidnext {
			add("folder %d (%s of %s): UID %d at or past UIDNEXT %d", id, name, mb, maxUID, uidnext)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = s.st.Query(ctx, `SELECT m.id, m.address, m.used_bytes, COALESCE((SELECT SUM(f.bytes) FROM folders f WHERE f.mailbox_id = m.id), 0) FROM mailboxes m`)
	if err != nil {
		return nil, fmt.Errorf("check mailboxes: %w", err)
	}
	for rows.Next() {
		var id, used, real int64
		var addr string
		if err := rows.Scan(&id, &addr, &used, &real); err != nil {
			rows.Close()
			return nil, err
		}
		if used != real {
			add("mailbox %s: quota usage %d bytes, folders hold %d", addr, used, real)
		}
	}
	rows.Close()

	rows, err = s.st.Query(ctx, `SELECT b.id, b.segment, b.offset_bytes, b.length, b.size, b.refs,
		(SELECT COUNT(*) FROM messages WHERE blob_id = b.id) + (SELECT COUNT(*) FROM outbound WHERE blob_id = b.id)
		FROM blobs b ORDER BY b.id`)
	if err != nil {
		return nil, fmt.Errorf("check blobs: %w", err)
	}
	type blobRow struct {
		id    int64
		ref   blob.Ref
		refs  int64
		users int64
	}
	var blobs []blobRow
	for rows.Next() {
		var b blobRow
		if err := rows.Scan(&b.id, &b.ref.Segment, &b.ref.Offset, &b.ref.Length, &b.ref.Size, &b.refs, &b.users); err != nil {
			rows.Close()
			return nil, err
		}
		blobs = append(blobs, b)
	}
	rows.Close()
	for i, b := range blobs {
		if progress != nil && (i%100 == 0 || i == len(blobs)-1) {
			progress(i+1, len(blobs))
		}
		if b.refs != b.users {
			add("blob %d: reference count %d, used by %d", b.id, b.refs, b.users)
		}
		if b.users == 0 {
			continue
		}
		r, err := s.blobs.Open(b.ref)
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		if err != nil {
			add("blob %d (segment %d): %v", b.id, b.ref.Segment, err)
		}
	}

	if err := s.checkSegments(ctx, add); err != nil {
		return nil, err
	}

	v, err := s.audit.Verify(ctx, nil)
	if err != nil {
		return nil, err
	}
	if v.Break != nil {
		add("audit trail: %s", v.Break.Reason)
	}
	return problems, nil
}

// MailboxDigest sums up a mailbox's content for comparing two copies of a
// store (caduceus migrate, check --mailboxes): its counts and a SHA-256 over
// every folder (name, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ) and message (UID,
// MODSEQ, flags, keywords, date, size, blob location), in id and UID order.
// Two stores with the same ids and the same blobs give the same digests.
type MailboxDigest struct {
	Address  string `json:"address"`
	Folders  int    `json:"folders"`
	Messages int    `json:"messages"`
	Bytes    int64  `json:"bytes"`
	Hash     string `json:"sha256"`
}

// Digests returns the digest of every mailbox, in id order.
func (s *Service) Digests(ctx context.Context) ([]MailboxDigest, error) { return Digests(ctx, s.st) }

// Digests returns the digest of every mailbox of st, in id order, reading
// only: it serves on a store opened read-only, with no Service over it.
func Digests(ctx context.Context, st *store.Store) ([]MailboxDigest, error) {
	rows, err := st.Query(ctx, `SELECT mb.id, mb.address, COALESCE(f.id, 0), COALESCE(f.name, ''),
		COALESCE(f.uidvalidity, 0), COALESCE(f.uidnext, 0), COALESCE(f.highest_modseq, 0),
		COALESCE(m.uid, 0), COALESCE(m.modseq, 0), COALESCE(m.flags, 0), COALESCE(m.keywords, ''),
		COALESCE(m.internal_date, 0), COALESCE(m.size, 0),
		COALESCE(b.segment, 0), COALESCE(b.offset_bytes, 0), COALESCE(b.length, 0)
		FROM mailboxes mb LEFT JOIN folders f ON f.mailbox_id = mb.id
		LEFT JOIN messages m ON m.folder_id = f.id LEFT JOIN blobs b ON b.id = m.blob_id
		ORDER BY mb.id, f.id, m.uid`)
	if err != nil {
		return nil, fmt.Errorf("mailbox digests: %w", err)
	}
	defer rows.Close()
	var out []MailboxDigest
	var h hash.Hash
	var lastMB, lastFolder int64 = -1, -1
	finish := func() {
		if h != nil {
			out[len(out)-1].Hash = hex.EncodeToString(h.Sum(nil))
		}
	}
	for rows.Next() {
		var mbID, folderID, uidvalidity, uidnext, highest, uid, modseq, flags, date, size, seg, off, length int64
		var addr, folder, keywords string
		if err := rows.Scan(&mbID, &addr, &folderID, &folder, &uidvalidity, &uidnext, &highest,
			&uid, &modseq, &flags, &keywords, &date, &size, &seg, &off, &length); err != nil {
			return nil, fmt.Errorf("mailbox digests: %w", err)
		}
		if mbID != lastMB {
			finish()
			out = append(out, MailboxDigest{Address: addr})
			h, lastMB, lastFolder = sha256.New(), mbID, -1
			fmt.Fprintf(h, "mailbox %q\n", addr)
		}
		d := &out[len(out)-1]
		if folderID != 0 && folderID != lastFolder {
			d.Folders++
			lastFolder = folderID
			fmt.Fprintf(h, "folder %q %d %d %d\n", folder, uidvalidity, uidnext, highest)
		}
		if uid != 0 {
			d.Messages++
			d.Bytes += size
			fmt.Fprintf(h, "message %d %d %d %q %d %d %d %d %d\n", uid, modseq, flags, keywords, date, size, seg, off, length)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mailbox digests: %w", err)
	}
	finish()
	return out, nil
}
