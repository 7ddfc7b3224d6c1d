package ipam

import (
	"context"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// keyPrefix is the root of every key this package writes.
const keyPrefix = "/switchyard/ipam/"

// listPageSize bounds each range request of list, so listing a large
// range never builds one huge response.
const listPageSize = 10000

// create stores val under key if the key does not exist, in one
// transaction. When the key exists it returns created=false and the
// stored value.
func create(ctx context.Context, cli *clientv3.Client, key, val string) (created bool, existing []byte, err error) {
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, val)).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return false, nil, fmt.Errorf("create %s: %w", key, err)
	}
	if resp.Succeeded {
		return true, nil, nil
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		return false, kvs[0].Value, nil
	}
	return false, nil, nil // deleted in between: report taken, callers retry
}

// deleteIfOwner deletes key if it holds owner's record. It returns the
// owner found (empty when the key does not exist).
func deleteIfOwner(ctx context.Context, cli *clientv3.Client, key, owner string) (found string, err error) {
	for {
		resp, err := cli.Get(ctx, key)
		if err != nil {
			return "", fmt.Errorf("get %s: %w", key, err)
		}
		if len(resp.Kvs) == 0 {
			return "", nil
		}
		kv := resp.Kvs[0]
		if found = ownerOf(kv.Value); found != owner {
			return found, nil
		}
		tx, err := cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(key)).
			Commit()
		if err != nil {
			return "", fmt.Errorf("delete %s: %w", key, err)
		}
		if tx.Succeeded {
			return owner, nil
		}
	}
}

// list calls fn for every key under prefix, in pages read at one
// revision. fn gets the key without prefix. A list that races with a
// compaction starts over.
func list(ctx context.Context, cli *clientv3.Client, prefix string, keysOnly bool, fn func(suffix string, val []byte)) error {
	var err error
	for range 3 {
		if err = listOnce(ctx, cli, prefix, keysOnly, fn); !isCompacted(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	return nil
}

func listOnce(ctx context.Context, cli *clientv3.Client, prefix string, keysOnly bool, fn func(string, []byte)) error {
	end := clientv3.GetPrefixRangeEnd(prefix)
	opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(listPageSize)}
	if keysOnly {
		opts = append(opts, clientv3.WithKeysOnly())
	}
	key, rev := prefix, int64(0)
	type kv struct {
		key string
		val []byte
	}
	var kvs []kv
	for {
		resp, err := cli.Get(ctx, key, append(opts, clientv3.WithRev(rev))...)
		if err != nil {
			return err
		}
		rev = resp.Header.Revision
		for _, e := range resp.Kvs {
			kvs = append(kvs, kv{strings.TrimPrefix(string(e.Key), prefix), e.Value})
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	// Deliver only a complete listing, so a restart after compaction
	// never reports a key twice.
	for _, kv := range kvs {
		fn(kv.key, kv.val)
	}
	return nil
}

// isCompacted reports whether err is etcd's "required revision has been
// compacted" (matched by text: its typed form lives in a module this
// package does not import).
func isCompacted(err error) bool {
	return err != nil && strings.Contains(err.Error(), "required revision has been compacted")
}
