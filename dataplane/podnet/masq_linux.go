package podnet

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// ensureMasquerade converges chain MasqueradeChain of table Table (family
// inet) in the calling thread's namespace to
//
//	type nat hook postrouting priority srcnat; policy accept
//	ip saddr CLUSTER ip daddr != CLUSTER masquerade comment "..."
//
// Pod-to-pod and pod-to-node traffic keeps its source; traffic leaving the
// cluster leaves with the node's address. Other chains of the table belong
// to other components and are never touched. All changes go to the kernel
// in one batch, so the chain is never seen half-written.
func ensureMasquerade(cluster netip.Prefix) error {
	fd, err := threadNetNS()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	table := &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	want := masqChain(table)
	rule := masqRule(table, want, cluster)

	have, err := findChain(c, table, MasqueradeChain)
	if err != nil {
		return err
	}
	if have != nil && sameBaseChain(have, want) {
		rules, err := c.GetRules(table, want)
		if err != nil {
			return fmt.Errorf("nftables: list rules of %s: %w", MasqueradeChain, err)
		}
		if len(rules) == 1 && bytes.Equal(rules[0].UserData, rule.UserData) {
			return nil
		}
	}
	c.AddTable(table)
	if have != nil {
		c.FlushChain(want)
		if !sameBaseChain(have, want) { // hook or type cannot be changed in place
			c.DelChain(want)
		}
	}
	c.AddChain(want)
	c.AddRule(rule)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: program %s %s: %w", Table, MasqueradeChain, err)
	}
	return nil
}

func masqChain(t *nftables.Table) *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{
		Name:     MasqueradeChain,
		Table:    t,
		Type:     nftables.ChainTypeNAT,
		Hooknum:  nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource,
		Policy:   &accept,
	}
}

// masqRule renders "ip saddr CLUSTER ip daddr != CLUSTER masquerade" the
// way nft compiles it for an inet table. The comment carries the rule's
// text: it is how ensureMasquerade recognizes a converged chain.
func masqRule(t *nftables.Table, ch *nftables.Chain, cluster netip.Prefix) *nftables.Rule {
	text := fmt.Sprintf("ip saddr %s ip daddr != %s masquerade", cluster, cluster)
	exprs := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
	}
	exprs = append(exprs, ipInPrefix(12, cluster, expr.CmpOpEq)...)
	exprs = append(exprs, ipInPrefix(16, cluster, expr.CmpOpNeq)...)
	exprs = append(exprs, &expr.Masq{})
	return &nftables.Rule{
		Table:    t,
		Chain:    ch,
		Exprs:    exprs,
		UserData: userdata.AppendString(nil, userdata.TypeComment, text),
	}
}

// ipInPrefix compares the IPv4 header field at offset (12 source, 16
// destination) with p: load, mask, compare.
func ipInPrefix(offset uint32, p netip.Prefix, op expr.CmpOp) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: net.CIDRMask(p.Bits(), 32), Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: op, Register: 1, Data: p.Masked().Addr().AsSlice()},
	}
}

// findChain returns the chain of table named name, or nil.
func findChain(c *nftables.Conn, t *nftables.Table, name string) (*nftables.Chain, error) {
	chains, err := c.ListChainsOfTableFamily(t.Family)
	if err != nil {
		return nil, fmt.Errorf("nftables: list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Name == name && ch.Table != nil && ch.Table.Name == t.Name {
			return ch, nil
		}
	}
	return nil, nil
}

func sameBaseChain(have, want *nftables.Chain) bool {
	return have.Type == want.Type &&
		have.Hooknum != nil && *have.Hooknum == *want.Hooknum &&
		have.Priority != nil && *have.Priority == *want.Priority &&
		(have.Policy == nil || *have.Policy == *want.Policy)
}
