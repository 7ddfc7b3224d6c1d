package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// record is the JSON value stored under each allocation key.
type record struct {
	// Owner is the opaque owner string: "namespace/name/uid" for service
	// IPs and node ports, the node name for node CIDR blocks.
	Owner string `json:"owner"`
	// CIDR is set on a node's index key: the block the node holds.
	CIDR string `json:"cidr,omitempty"`
	// Time is when the value was allocated, for humans and repair loops.
	Time time.Time `json:"time"`
}

// checkOwner rejects owners that cannot be stored and read back as they
// are: empty or not valid UTF-8.
func checkOwner(owner string) error {
	if owner == "" {
		return errors.New("empty owner")
	}
	if !utf8.ValidString(owner) {
		return fmt.Errorf("owner %q is not valid UTF-8", owner)
	}
	return nil
}

func newRecord(owner string) record {
	return record{Owner: owner, Time: time.Now().UTC().Truncate(time.Millisecond)}
}

func (r record) encode() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic("ipam: encode record: " + err.Error()) // strings and a time cannot fail
	}
	return string(b)
}

// decodeRecord parses a stored value. Values are written only by this
// package, but etcd is shared: a malformed one is an error, never a panic.
func decodeRecord(b []byte) (record, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return record{}, err
	}
	if r.Owner == "" {
		return record{}, errors.New("record without owner")
	}
	return r, nil
}

// ownerOf returns the owner stored in b, or "" when b does not decode.
func ownerOf(b []byte) string {
	r, err := decodeRecord(b)
	if err != nil {
		return ""
	}
	return r.Owner
}
