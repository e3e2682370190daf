package core

import (
	"context"
	"fmt"
	"io"

	"caduceus/internal/blob"
	"caduceus/internal/store"
)

// ModelProgress says how far MigrateModels is.
type ModelProgress struct {
	Done   int64 // models computed and committed
	Failed int64 // blobs that could not be read (left for a later run)
	Total  int64 // blobs without a model when the run started
}

// MigrateModels computes the message model of every blob stored before
// models were (blobs.model NULL), and its rows of the search indexes (words and substrings), batch blobs at a time, each batch
// committed through the group committer so that deliveries go on beside
// it. It is resumable: a committed model is never computed again, and a
// run stopped by ctx leaves the rest for the next. progress, when set, is
// called after each batch. A door meanwhile parses such messages on the
// fly (Service.Model).
func (s *Service) MigrateModels(ctx context.Context, batch int, progress func(ModelProgress)) (ModelProgress, error) {
	if batch <= 0 {
		batch = 200
	}
	var p ModelProgress
	if err := s.st.QueryRow(ctx, `SELECT COUNT(*) FROM blobs WHERE model IS NULL AND refs > 0`).Scan(&p.Total); err != nil {
		return p, fmt.Errorf("count blobs without a model: %w", err)
	}
	if p.Total == 0 {
		return p, nil
	}
	type todo struct {
		id  int64
		ref blob.Ref
	}
	var after int64
	for ctx.Err() == nil {
		rows, err := s.st.Query(ctx, `SELECT id, segment, offset_bytes, length, size FROM blobs WHERE model IS NULL AND refs > 0 AND id > ? ORDER BY id LIMIT ?`, after, batch)
		if err != nil {
			return p, fmt.Errorf("list blobs without a model: %w", err)
		}
		var list []todo
		for rows.Next() {
			var t todo
			if err := rows.Scan(&t.id, &t.ref.Segment, &t.ref.Offset, &t.ref.Length, &t.ref.Size); err != nil {
				rows.Close()
				return p, err
			}
			list = append(list, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return p, err
		}
		if len(list) == 0 {
			break
		}
		after = list[len(list)-1].id
		ids := make([]int64, 0, len(list))
		models := make([][]byte, 0, len(list))
		texts := make([]*searchText, 0, len(list))
		for _, t := range list {
			md, err := s.blobModel(t.ref)
			if err != nil {
				// Moved by a compaction meanwhile, or unreadable: Check
				// reports the latter; the next run tries again.
				s.log.Warn("message model not computed", "blob", t.id, "err", err)
				p.Failed++
				continue
			}
			ids = append(ids, t.id)
			models = append(models, md.stored)
			texts = append(texts, newSearchText(md))
		}
		err = s.write(ctx, func(tx *store.Tx) error {
			for i, id := range ids {
				if _, err := tx.Exec(ctx, `UPDATE blobs SET model = ? WHERE id = ? AND model IS NULL`, models[i], id); err != nil {
					return fmt.Errorf("store message model: %w", err)
				}
				if err := texts[i].reindex(ctx, tx, id); err != nil {
					return err
				}
			}
			return nil
		}, func() []Event { return nil })
		if err != nil {
			return p, err
		}
		p.Done += int64(len(ids))
		if progress != nil {
			progress(p)
		}
	}
	return p, ctx.Err()
}

// blobModel computes the model of one blob, streaming it.
func (s *Service) blobModel(ref blob.Ref) (*model, error) {
	rd, err := s.blobs.Open(ref)
	if err != nil {
		return nil, err
	}
	return parseModel(io.NewSectionReader(rd, 0, rd.Size()))
}

// ResetModels forgets every stored model, so that MigrateModels computes
// them all again: after a change of what the model holds. Doors parse
// messages on the fly meanwhile. Only the system may.
func (s *Service) ResetModels(ctx context.Context, actor Actor) error {
	if !actor.IsSystem() {
		return fmt.Errorf("reset message models: %w", ErrPermission)
	}
	err := s.write(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE blobs SET model = NULL WHERE model IS NOT NULL`)
		return err
	}, func() []Event { return nil })
	if err != nil {
		return fmt.Errorf("reset message models: %w", err)
	}
	return nil
}

// ModelFallbacks counts the models parsed on the fly since start, for
// messages the migration had not reached yet.
func (s *Service) ModelFallbacks() int64 { return s.modelFallbacks.Load() }
