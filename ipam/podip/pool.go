package podip

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/switchyard-net/switchyard/ipam/internal/bitmap"
	"github.com/switchyard-net/switchyard/ipam/internal/cidr"
	"github.com/switchyard-net/switchyard/ipam/internal/errs"
)

// ErrFull is the same value as ipam.ErrFull.
var (
	// ErrFull: every address of the CIDR is allocated.
	ErrFull = errs.ErrFull
)

// ErrClosed is returned by the methods of a closed Pool.
var ErrClosed = errors.New("pod IP pool is closed")

// maxSlots bounds the bitmap (2 MiB of bits); larger CIDRs hand out their
// first maxSlots addresses.
const maxSlots = 1 << 24

// maxOwnerLen bounds owner strings, far below bbolt's key limit, so that
// one bad owner cannot fail a whole group commit.
const maxOwnerLen = 1024

// lockTimeout is how long Open waits for another holder of the file.
var lockTimeout = 10 * time.Second

var (
	bucketOwners = []byte("owners")
	bucketMeta   = []byte("meta")
	keyCIDR      = []byte("cidr")
	keyLast      = []byte("last")
)

// Pool allocates pod IPs in one CIDR, persisted in a bbolt file.
type Pool struct {
	cidr netip.Prefix
	path string
	db   *bolt.DB
	w    *committer
	n    int // slots in the bitmap
	now  func() time.Time

	mu      sync.Mutex
	bits    *bitmap.Bitmap        // guarded by mu; taken addresses and reserved ones
	owners  map[string]*slot      // guarded by mu
	byIP    map[netip.Addr]string // guarded by mu; the owner of each address
	last    int                   // guarded by mu; slot of the last allocation
	closed  bool                  // guarded by mu
	writers sync.WaitGroup        // calls writing to the db

	closeOnce sync.Once
	closeErr  error
}

// slot is an owner's allocation in memory. While busy is not nil a write
// for it is in flight; it is closed when the write ends. new is set while
// that write is the allocation itself, which is not yet durable.
type slot struct {
	entry
	busy chan struct{}
	new  bool
}

// Open opens or creates the pool file at path for cidr, and loads it.
func Open(path string, prefix netip.Prefix) (*Pool, error) {
	if !prefix.IsValid() {
		return nil, fmt.Errorf("open pod IP pool: invalid CIDR %s", prefix)
	}
	prefix = prefix.Masked()
	host := cidr.HostBits(prefix)
	if host < 2 {
		return nil, fmt.Errorf("open pod IP pool: pod CIDR %s has no address for pods", prefix)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open pod IP pool %s: locked by another holder", path)
	}
	if err != nil {
		return nil, fmt.Errorf("open pod IP pool %s: %w", path, err)
	}
	p := &Pool{
		cidr:   prefix,
		path:   path,
		db:     db,
		w:      newCommitter(db),
		n:      min(1<<min(host, 30), maxSlots),
		now:    time.Now,
		owners: make(map[string]*slot),
		byIP:   make(map[netip.Addr]string),
	}
	if err := p.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open pod IP pool %s: %w", path, err)
	}
	return p, nil
}

// load creates the buckets, reads every entry and builds the bitmap.
func (p *Pool) load() error {
	p.bits = bitmap.New(p.n)
	for _, i := range p.reserved() {
		p.bits.Set(i)
	}
	return p.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		owners, err := tx.CreateBucketIfNotExists(bucketOwners)
		if err != nil {
			return err
		}
		if last, ok := netip.AddrFromSlice(meta.Get(keyLast)); ok {
			p.last, _ = p.slotOf(last)
		}
		if err := owners.ForEach(p.loadEntry); err != nil {
			return err
		}
		return meta.Put(keyCIDR, []byte(p.cidr.String()))
	})
}

func (p *Pool) loadEntry(k, v []byte) error {
	owner := string(k)
	e, err := decodeEntry(v)
	if err != nil {
		return fmt.Errorf("entry of %q: %w", owner, err)
	}
	if other, dup := p.byIP[e.ip]; dup {
		return fmt.Errorf("%s is recorded for both %q and %q", e.ip, other, owner)
	}
	p.owners[owner] = &slot{entry: e}
	p.byIP[e.ip] = owner
	if i, ok := p.slotOf(e.ip); ok {
		p.bits.Set(i)
	}
	return nil
}

// reserved returns the slots never handed out: network address, gateway
// and, for IPv4, broadcast.
func (p *Pool) reserved() []int {
	r := []int{0, 1}
	if p.cidr.Addr().Is4() && cidr.HostBits(p.cidr) <= 24 {
		r = append(r, p.n-1)
	}
	return r
}

// slotOf returns the bitmap slot of ip, false when it has none.
func (p *Pool) slotOf(ip netip.Addr) (int, bool) {
	i, ok := cidr.Index(p.cidr, ip)
	if !ok || i >= uint64(p.n) {
		return 0, false
	}
	return int(i), true
}

// CIDR returns the pool's CIDR.
func (p *Pool) CIDR() netip.Prefix { return p.cidr }

// Gateway returns the reserved gateway address, the first after the
// network address.
func (p *Pool) Gateway() netip.Addr { return cidr.Addr(p.cidr, 1) }

// Close closes the file after the writes in flight end. It is idempotent;
// other methods then return ErrClosed.
func (p *Pool) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.writers.Wait()
		p.closeErr = p.db.Close()
	})
	return p.closeErr
}

// checkOwner rejects owners that cannot be stored.
func checkOwner(owner string) error {
	if owner == "" {
		return errors.New("empty owner")
	}
	if len(owner) > maxOwnerLen {
		return fmt.Errorf("owner of %d bytes, more than %d", len(owner), maxOwnerLen)
	}
	return nil
}
