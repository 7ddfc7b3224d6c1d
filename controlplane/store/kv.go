package store

import (
	"bytes"
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// listPageSize bounds one etcd range response; List pages internally so a
// large prefix never becomes one huge gRPC message.
const listPageSize = 1000

// KV is one stored key at one revision.
type KV struct {
	Key      string
	Value    []byte
	Revision int64 // the key's ModRevision: the Kubernetes resourceVersion
}

// fromKV is a stored key as callers see it: decrypted (see Encryption).
func (s *Store) fromKV(kv *mvccpb.KeyValue) (KV, error) {
	v, err := s.cfg.Encryption.open(string(kv.Key), kv.Value)
	if err != nil {
		return KV{}, err
	}
	return KV{Key: string(kv.Key), Value: v, Revision: kv.ModRevision}, nil
}

// Get returns the key's current value, or ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (KV, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return KV{}, mapErr("get "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return KV{}, fmt.Errorf("get %s: %w", key, ErrNotFound)
	}
	return s.fromKV(resp.Kvs[0])
}

// List returns every key under prefix, sorted by key, as of revision rev (0:
// the latest). listRev is the revision the list reflects: rev itself, or the
// current revision when rev is 0. A compacted rev returns ErrCompacted, a
// rev beyond the current one ErrFutureRevision. All pages are read at the
// same revision, so the result is a consistent snapshot.
func (s *Store) List(ctx context.Context, prefix string, rev int64) (kvs []KV, listRev int64, err error) {
	key, end := prefixRange(prefix)
	for {
		resp, err := s.client.Get(ctx, key, clientv3.WithRange(end), clientv3.WithRev(rev), clientv3.WithLimit(listPageSize))
		if err != nil {
			return nil, 0, mapErr(fmt.Sprintf("list %s at revision %d", prefix, rev), err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		if kvs == nil {
			kvs = make([]KV, 0, resp.Count)
		}
		for _, kv := range resp.Kvs {
			v, err := s.fromKV(kv)
			if err != nil {
				return nil, 0, err
			}
			kvs = append(kvs, v)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return kvs, rev, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// prefixRange returns the [key, end) range covering prefix; "" covers all.
func prefixRange(prefix string) (key, end string) {
	if prefix == "" {
		return "\x00", "\x00" // end "\x00" means "to the end of the keyspace"
	}
	return prefix, clientv3.GetPrefixRangeEnd(prefix)
}

// Create stores a new key and returns its revision, or ErrExists.
func (s *Store) Create(ctx context.Context, key string, value []byte, opts ...WriteOption) (int64, error) {
	putOpts, err := s.putOptions(ctx, opts)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", key, err)
	}
	value, err = s.cfg.Encryption.seal(key, value)
	if err != nil {
		return 0, err
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(value), putOpts...)).
		Commit()
	if err != nil {
		return 0, mapErr("create "+key, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("create %s: %w", key, ErrExists)
	}
	return resp.Header.Revision, nil
}

// Update replaces an existing key's value if its ModRevision is expectRev
// (0: any) and returns the new revision. A missing key is ErrNotFound, a
// different revision ErrConflict.
func (s *Store) Update(ctx context.Context, key string, value []byte, expectRev int64, opts ...WriteOption) (int64, error) {
	putOpts, err := s.putOptions(ctx, opts)
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", key, err)
	}
	value, err = s.cfg.Encryption.seal(key, value)
	if err != nil {
		return 0, err
	}
	resp, err := s.client.Txn(ctx).
		If(expectCmp(key, expectRev)).
		Then(clientv3.OpPut(key, string(value), putOpts...)).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return 0, mapErr("update "+key, err)
	}
	if !resp.Succeeded {
		return 0, casError("update", key, resp)
	}
	return resp.Header.Revision, nil
}

// expectCmp is the guard of a conditional write: the key exists with
// ModRevision expectRev, or just exists when expectRev is 0.
func expectCmp(key string, expectRev int64) clientv3.Cmp {
	if expectRev == 0 {
		return clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
	}
	return clientv3.Compare(clientv3.ModRevision(key), "=", expectRev)
}

// casError explains a failed expectCmp txn whose Else branch counted the key.
func casError(op, key string, resp *clientv3.TxnResponse) error {
	if resp.Responses[0].GetResponseRange().Count == 0 {
		return fmt.Errorf("%s %s: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("%s %s: %w", op, key, ErrConflict)
}

// Delete removes the key if its ModRevision is expectRev (0: any) and returns
// the value it held, with Revision = its last ModRevision (not the delete's).
// A missing key is ErrNotFound, a different revision ErrConflict.
func (s *Store) Delete(ctx context.Context, key string, expectRev int64) (KV, error) {
	resp, err := s.client.Txn(ctx).
		If(expectCmp(key, expectRev)).
		Then(clientv3.OpDelete(key, clientv3.WithPrevKV())).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return KV{}, mapErr("delete "+key, err)
	}
	if !resp.Succeeded {
		return KV{}, casError("delete", key, resp)
	}
	prev := resp.Responses[0].GetResponseDeleteRange().PrevKvs
	if len(prev) == 0 { // deleted between compare and delete: impossible in one txn
		return KV{}, fmt.Errorf("delete %s: %w", key, ErrNotFound)
	}
	return s.fromKV(prev[0])
}

// DeletePrefix removes every key under prefix and returns how many it removed.
func (s *Store) DeletePrefix(ctx context.Context, prefix string) (int64, error) {
	key, end := prefixRange(prefix)
	resp, err := s.client.Delete(ctx, key, clientv3.WithRange(end))
	if err != nil {
		return 0, mapErr("delete prefix "+prefix, err)
	}
	return resp.Deleted, nil
}

// GuaranteedUpdate applies fn to the key's current value and writes the
// result if the key has not changed meanwhile, retrying with the newer value
// on a conflict. A missing key is passed to fn as KV{Key: key} (Revision 0,
// Value nil): fn returns ErrNotFound to refuse, or a value to create the key.
// fn's errors are returned unchanged. When fn returns the current value
// byte-for-byte nothing is written and the current revision is returned
// (as Kubernetes does for no-op updates). fn may run several times.
func (s *Store) GuaranteedUpdate(ctx context.Context, key string, fn func(cur KV) ([]byte, error)) (int64, error) {
	cur, err := s.getOrEmpty(ctx, key)
	if err != nil {
		return 0, err
	}
	for {
		val, err := fn(cur)
		if err != nil {
			return 0, err
		}
		if cur.Revision != 0 && bytes.Equal(val, cur.Value) {
			return cur.Revision, nil
		}
		rev, latest, err := s.casPut(ctx, key, val, cur.Revision)
		if err != nil || rev != 0 {
			return rev, err
		}
		cur = latest
	}
}

func (s *Store) getOrEmpty(ctx context.Context, key string) (KV, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return KV{}, mapErr("get "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return KV{Key: key}, nil
	}
	return s.fromKV(resp.Kvs[0])
}

// casPut writes val if the key's ModRevision is still rev (0: absent) and
// returns the new revision; on a conflict it returns revision 0 and the
// key's current value instead.
func (s *Store) casPut(ctx context.Context, key string, val []byte, rev int64) (int64, KV, error) {
	val, err := s.cfg.Encryption.seal(key, val)
	if err != nil {
		return 0, KV{}, err
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
		Then(clientv3.OpPut(key, string(val))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return 0, KV{}, mapErr("update "+key, err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, KV{}, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return 0, KV{Key: key}, nil
	}
	latest, err := s.fromKV(kvs[0])
	return 0, latest, err
}
