package nftlb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// kernel talks nftables netlink in one network namespace. google/nftables
// serializes the messages; kernel sends them itself: the library asks an
// acknowledgement (and for rules an echo) for every message, which for a
// batch of tens of thousands of messages floods the socket's receive
// buffer and costs a receive per message. Here only the last message of
// a batch asks for an acknowledgement; errors are reported anyway.
type kernel struct {
	netns  int // fd of the target namespace
	nl     *netlink.Conn
	sndbuf int
}

const (
	nftMsgDestroySetElem = 0x1e // NFT_MSG_DESTROYSETELEM (Linux 6.3): delete, absent is fine
	batchWait            = 30 * time.Second
)

func newKernel(netnsFd int) (*kernel, error) {
	nl, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netnsFd})
	if err != nil {
		return nil, fmt.Errorf("nftables netlink socket: %w", err)
	}
	_ = nl.SetOption(netlink.ExtendedAcknowledge, true)
	k := &kernel{netns: netnsFd, nl: nl}
	if err := k.setBuf(unix.SO_RCVBUFFORCE, 8<<20); err != nil {
		nl.Close()
		return nil, err
	}
	return k, nil
}

func (k *kernel) Close() error { return k.nl.Close() }

func (k *kernel) setBuf(opt, n int) error {
	rc, err := k.nl.SyscallConn()
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, opt, n) }); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("netlink socket buffer: %w", serr)
	}
	return nil
}

// builder returns a nftables.Conn whose Flush hands the serialized batch
// to capture instead of the kernel.
func builder(capture *[]netlink.Message) *nftables.Conn {
	pending := 0
	c, _ := nftables.New(nftables.WithTestDial(func(req []netlink.Message) ([]netlink.Message, error) {
		if req != nil {
			*capture = append(*capture, req...)
			pending = len(req)
			return nil, nil
		}
		// Flush waits for one acknowledgement per message.
		if pending > 0 {
			pending--
		}
		return []netlink.Message{{Header: netlink.Header{Type: netlink.Error}, Data: make([]byte, 4)}}, nil
	}))
	return c
}

// send sends msgs (a batch as built by google/nftables: begin, messages,
// end) as one transaction and waits for its outcome.
func (k *kernel) send(msgs []netlink.Message) error {
	if len(msgs) <= 2 {
		return nil
	}
	size := 0
	for i := range msgs {
		m := &msgs[i]
		m.Header.Flags &^= netlink.Acknowledge | netlink.Echo
		m.Header.Sequence, m.Header.PID, m.Header.Length = 0, 0, 0
		size += 16 + len(m.Data) + 4
	}
	last := len(msgs) - 2 // the last message before batch end
	msgs[last].Header.Flags |= netlink.Acknowledge
	if want := size + size/4 + 64<<10; want > k.sndbuf {
		if err := k.setBuf(unix.SO_SNDBUFFORCE, want); err != nil {
			return err
		}
		k.sndbuf = want
	}
	sent, err := k.nl.SendMessages(msgs)
	if err != nil {
		return fmt.Errorf("send batch of %d messages (%d bytes): %w", len(msgs), size, err)
	}
	lastSeq := sent[last].Header.Sequence
	bySeq := make(map[uint32]int, len(sent))
	for i, m := range sent {
		bySeq[m.Header.Sequence] = i
	}
	return k.waitBatch(sent, bySeq, lastSeq)
}

// waitBatch reads the kernel's answers to a batch until the last
// message's acknowledgement. Errors name the failing message.
func (k *kernel) waitBatch(sent []netlink.Message, bySeq map[uint32]int, lastSeq uint32) error {
	rc, err := k.nl.SyscallConn()
	if err != nil {
		return err
	}
	defer k.nl.SetReadDeadline(time.Time{})
	k.nl.SetReadDeadline(time.Now().Add(batchWait))
	buf := make([]byte, 1<<16)
	var errs []error
	for {
		var n int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			return rerr != unix.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				if errs == nil {
					errs = append(errs, errors.New("no answer from the kernel"))
				}
				break
			}
			return fmt.Errorf("read batch answers: %w", err)
		}
		done := false
		for b := buf[:n]; len(b) >= unix.NLMSG_HDRLEN; {
			l := int(binary.NativeEndian.Uint32(b[0:4]))
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				break
			}
			typ := binary.NativeEndian.Uint16(b[4:6])
			seq := binary.NativeEndian.Uint32(b[8:12])
			if typ == unix.NLMSG_ERROR && l >= unix.NLMSG_HDRLEN+4 {
				if code := int32(binary.NativeEndian.Uint32(b[16:20])); code != 0 {
					what := "batch"
					if i, ok := bySeq[seq]; ok {
						what = describeMsg(sent[i])
					}
					errs = append(errs, fmt.Errorf("%s: %w%s", what, unix.Errno(-code), extAckMsg(b[16:l])))
					// More errors may follow: drain them briefly.
					k.nl.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				}
				if seq == lastSeq {
					done = true
				}
			}
			b = b[(l+unix.NLMSG_ALIGNTO-1)&^(unix.NLMSG_ALIGNTO-1):]
		}
		if done && errs == nil {
			return nil
		}
		if done {
			break
		}
	}
	return fmt.Errorf("nftables transaction: %w", errors.Join(errs...))
}

// extAckMsg returns the extended acknowledgement's message and offset,
// if any (b: errno, original header (and payload), TLVs).
func extAckMsg(b []byte) string {
	if len(b) < 4+unix.NLMSG_HDRLEN {
		return ""
	}
	l := int(binary.NativeEndian.Uint32(b[4:8]))
	if 4+l > len(b) {
		l = unix.NLMSG_HDRLEN
	}
	ad, err := netlink.NewAttributeDecoder(b[4+((l+3)&^3):])
	if err != nil {
		return ""
	}
	var out string
	for ad.Next() {
		switch ad.Type() {
		case unix.NLMSGERR_ATTR_MSG:
			out += " (" + ad.String() + ")"
		case unix.NLMSGERR_ATTR_OFFS:
			out += fmt.Sprintf(" (at byte %d of the message)", ad.Uint32())
		}
	}
	return out
}

// describeMsg names a batch message: its type and table/chain/set.
func describeMsg(m netlink.Message) string {
	names := map[int]string{unix.NFT_MSG_NEWTABLE: "add table", unix.NFT_MSG_NEWCHAIN: "add chain",
		unix.NFT_MSG_DELCHAIN: "delete chain", unix.NFT_MSG_NEWRULE: "add rule", unix.NFT_MSG_DELRULE: "delete rule",
		unix.NFT_MSG_NEWSET: "add set", unix.NFT_MSG_DELSET: "delete set", unix.NFT_MSG_NEWSETELEM: "add elements",
		unix.NFT_MSG_DELSETELEM: "delete elements", nftMsgDestroySetElem: "destroy elements"}
	typ := int(m.Header.Type) & 0xff
	what := names[typ]
	if what == "" {
		what = fmt.Sprintf("message type %d", typ)
	}
	if len(m.Data) > 4 {
		if ad, err := netlink.NewAttributeDecoder(m.Data[4:]); err == nil {
			for ad.Next() {
				// Chain (rules) / set name attributes share type 2 or 3
				// depending on the message; print the strings we find.
				if ad.Type() == 2 || ad.Type() == 3 && typ != unix.NFT_MSG_NEWTABLE {
					if b := ad.Bytes(); len(b) > 0 && b[len(b)-1] == 0 && len(b) < 300 {
						what += " " + string(b[:len(b)-1])
					}
				}
			}
		}
	}
	return what
}

func nfgen(family byte) []byte { return []byte{family, unix.NFNETLINK_V0, 0, 0} }

func (k *kernel) dump(msgType int, family byte, attrs []netlink.Attribute) ([]netlink.Message, error) {
	data, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return nil, err
	}
	req := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | msgType),
			Flags: netlink.Request | netlink.Dump},
		Data: append(nfgen(family), data...),
	}
	msgs, err := k.nl.Execute(req)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, err
	}
	return msgs, nil
}

// genID is the ruleset generation: it changes with every committed
// nftables transaction in the namespace, ours or anyone's.
func (k *kernel) genID() (uint32, error) {
	req := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: netlink.Request},
		Data: nfgen(unix.AF_UNSPEC),
	}
	msgs, err := k.nl.Execute(req)
	if err != nil {
		return 0, fmt.Errorf("nftables generation: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, err
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, errors.New("nftables generation: no id in answer")
}

// kstate is what the kernel holds of ours.
type kstate struct {
	table  bool
	sets   map[string]*nftables.Set
	chains map[string]*nftables.Chain
	rules  map[string][]string // chain → rule comments in order
	elems  map[elemKey]string
}

func (ks *kstate) fingerprint(chain string) string { return strings.Join(ks.rules[chain], "\n") }

// read loads our sets, chains, rules and elements (not the affinity map's).
func (k *kernel) read() (*kstate, error) {
	ks := &kstate{sets: map[string]*nftables.Set{}, chains: map[string]*nftables.Chain{},
		rules: map[string][]string{}, elems: map[elemKey]string{}}
	c, err := nftables.New(nftables.WithNetNSFd(k.netns))
	if err != nil {
		return nil, err
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	for _, t := range tables {
		ks.table = ks.table || t.Name == Table
	}
	if !ks.table {
		return ks, nil
	}
	table := &nftables.Table{Name: Table, Family: nftables.TableFamilyINet}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == Table && strings.HasPrefix(ch.Name, Prefix) {
			ks.chains[ch.Name] = ch
		}
	}
	allSets, err := c.GetSets(table)
	if err != nil {
		return nil, fmt.Errorf("list sets: %w", err)
	}
	for _, s := range allSets {
		if strings.HasPrefix(s.Name, Prefix) {
			ks.sets[s.Name] = s
		}
	}
	if err := k.readRules(ks); err != nil {
		return nil, err
	}
	for i, spec := range sets {
		if spec.dynamic || ks.sets[spec.name] == nil {
			continue
		}
		if err := k.readElems(ks, uint8(i)); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

func (k *kernel) readRules(ks *kstate) error {
	msgs, err := k.dump(unix.NFT_MSG_GETRULE, unix.NFPROTO_INET,
		[]netlink.Attribute{{Type: unix.NFTA_RULE_TABLE, Data: []byte(Table + "\x00")}})
	if err != nil {
		return fmt.Errorf("list rules: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return err
		}
		var chain, comment string
		for ad.Next() {
			switch ad.Type() {
			case unix.NFTA_RULE_CHAIN:
				chain = ad.String()
			case unix.NFTA_RULE_USERDATA:
				comment, _ = userdata.GetString(ad.Bytes(), userdata.TypeComment)
			}
		}
		if err := ad.Err(); err != nil {
			return fmt.Errorf("decode rule: %w", err)
		}
		if ks.chains[chain] != nil {
			ks.rules[chain] = append(ks.rules[chain], comment)
		}
	}
	return nil
}

func (k *kernel) readElems(ks *kstate, set uint8) error {
	msgs, err := k.dump(unix.NFT_MSG_GETSETELEM, unix.NFPROTO_INET, []netlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte(Table + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte(sets[set].name + "\x00")},
	})
	if err != nil {
		return fmt.Errorf("list elements of %s: %w", sets[set].name, err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		err := forElems(m.Data[4:], func(key, val string) { ks.elems[elemKey{set, key}] = val })
		if err != nil {
			return fmt.Errorf("decode elements of %s: %w", sets[set].name, err)
		}
	}
	return nil
}

// forElems decodes a NEWSETELEM message's attributes: key and value (data
// bytes or the verdict's chain) of each element.
func forElems(b []byte, fn func(key, val string)) error {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return err
	}
	for ad.Next() {
		if ad.Type() != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			continue
		}
		ad.Nested(func(list *netlink.AttributeDecoder) error {
			for list.Next() {
				list.Nested(func(el *netlink.AttributeDecoder) error {
					var key, val string
					for el.Next() {
						switch el.Type() {
						case unix.NFTA_SET_ELEM_KEY:
							el.Nested(func(d *netlink.AttributeDecoder) error {
								for d.Next() {
									if d.Type() == unix.NFTA_DATA_VALUE {
										key = string(d.Bytes())
									}
								}
								return nil
							})
						case unix.NFTA_SET_ELEM_DATA:
							el.Nested(func(d *netlink.AttributeDecoder) error {
								for d.Next() {
									switch d.Type() {
									case unix.NFTA_DATA_VALUE:
										val = string(d.Bytes())
									case unix.NFTA_DATA_VERDICT:
										d.Nested(func(v *netlink.AttributeDecoder) error {
											for v.Next() {
												if v.Type() == unix.NFTA_VERDICT_CHAIN {
													val = v.String()
												}
											}
											return nil
										})
									}
								}
								return nil
							})
						}
					}
					fn(key, val)
					return nil
				})
			}
			return nil
		})
	}
	return ad.Err()
}

// readAffinity lists the affinity map's elements (key → endpoint).
func (k *kernel) readAffinity() (map[string]string, error) {
	ks := &kstate{elems: map[elemKey]string{}}
	if err := k.readElems(ks, setAffinity); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ks.elems))
	for e, v := range ks.elems {
		out[e.key] = v
	}
	return out, nil
}
