package podip

import (
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestGroupCommit holds the first transaction open while 20 more writers
// arrive: they must all be written by one second transaction.
func TestGroupCommit(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "c.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucketOwners); return err }); err != nil {
		t.Fatal(err)
	}
	c := newCommitter(db)
	var txs int
	hold, held := make(chan struct{}), make(chan struct{})
	c.hook = func() error {
		if txs++; txs == 1 {
			close(held)
			<-hold
		}
		return nil
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.write(change{bucketOwners, []byte("first"), []byte("1")}); err != nil {
			t.Error(err)
		}
	})
	<-held
	for i := range 20 {
		wg.Go(func() {
			if err := c.write(change{bucketOwners, []byte(fmt.Sprint("k", i)), []byte("v")}); err != nil {
				t.Error(err)
			}
		})
	}
	// Wait until all 20 are queued, then let the first transaction end.
	for {
		c.mu.Lock()
		n := 0
		if c.next != nil {
			n = len(c.next.changes)
		}
		c.mu.Unlock()
		if n == 20 {
			break
		}
		runtime.Gosched()
	}
	close(hold)
	wg.Wait()
	if txs != 2 {
		t.Errorf("%d transactions, want 2", txs)
	}
	err = db.View(func(tx *bolt.Tx) error {
		if n := tx.Bucket(bucketOwners).Stats().KeyN; n != 21 {
			t.Errorf("%d keys written, want 21", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
