package podip

import (
	"sync"

	bolt "go.etcd.io/bbolt"
)

// change is one write to the file: put val under key in bucket, or delete
// key when val is nil.
type change struct {
	bucket, key, val []byte
}

// batch is the changes written by one transaction.
type batch struct {
	changes []change
	done    bool  // the transaction has ended
	err     error // its result
}

// committer writes changes to the db, grouping the changes of concurrent
// callers into one transaction: while a transaction is written, changes
// that arrive join the next batch, which the first of their callers to
// wake up writes. Each caller returns when its batch is durable, with the
// batch's result. A failed batch fails every caller in it.
type committer struct {
	db   *bolt.DB
	mu   sync.Mutex
	cond *sync.Cond   // on mu; signalled when a transaction ends
	busy bool         // guarded by mu; a transaction is being written
	next *batch       // guarded by mu; the batch that accepts changes
	hook func() error // tests: called inside each transaction; an error fails it
}

func newCommitter(db *bolt.DB) *committer {
	c := &committer{db: db}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// write makes changes durable, alone or together with concurrent ones.
func (c *committer) write(changes ...change) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next == nil {
		c.next = &batch{}
	}
	b := c.next
	b.changes = append(b.changes, changes...)
	for c.busy && !b.done {
		c.cond.Wait()
	}
	if b.done {
		return b.err
	}
	c.busy, c.next = true, nil
	c.mu.Unlock()
	err := c.db.Update(func(tx *bolt.Tx) error {
		if c.hook != nil {
			if err := c.hook(); err != nil {
				return err
			}
		}
		return apply(tx, b.changes)
	})
	c.mu.Lock()
	b.done, b.err, c.busy = true, err, false
	c.cond.Broadcast()
	return err
}

func apply(tx *bolt.Tx, changes []change) error {
	for _, ch := range changes {
		bk := tx.Bucket(ch.bucket)
		var err error
		if ch.val == nil {
			err = bk.Delete(ch.key)
		} else {
			err = bk.Put(ch.key, ch.val)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
