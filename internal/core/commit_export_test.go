package core

import (
	"context"
	"sync"

	"caduceus/internal/store"
)

// HoldCommitsForTest keeps the group committer busy, inside a transaction of
// its own, until release is called: the jobs submitted meanwhile wait in its
// queue and go into the next batch together.
func (s *Service) HoldCommitsForTest() (release func()) {
	held, gate := make(chan struct{}), make(chan struct{})
	var once sync.Once
	go s.write(context.Background(), func(*store.Tx) error {
		once.Do(func() { close(held) })
		<-gate
		return nil
	}, func() []Event { return nil })
	<-held
	var done sync.Once
	return func() { done.Do(func() { close(gate) }) }
}

// QueuedCommitsForTest returns the number of jobs waiting for the committer.
func (s *Service) QueuedCommitsForTest() int { return len(s.commit.jobs) }

// SetBlobSyncForTest makes the committer sync blobs with sync, until restore
// is called. Call neither while a commit runs.
func (s *Service) SetBlobSyncForTest(sync func() error) (restore func()) {
	prev := s.commit.sync
	s.commit.sync = sync
	return func() { s.commit.sync = prev }
}
