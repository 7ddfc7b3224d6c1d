package netexec

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestParseUDP(t *testing.T) {
	tests := []struct {
		msg     string
		wantCmd udpCmd
		wantArg string
	}{
		{"hostname", udpHostname, ""},
		{"hostname\n", udpHostname, ""},
		{"  clientip\r\n", udpClientIP, ""},
		{"echo hello world", udpEcho, "hello world"},
		{"echo  two spaces\n", udpEcho, " two spaces"},
		{"echo\tTab", udpEcho, "Tab"},
		{"echo", udpEcho, ""},
		{"echo ", udpEcho, ""},
		{"echoes", udpUnknown, ""},
		{"HOSTNAME", udpUnknown, ""},
		{"", udpUnknown, ""},
		{"hostname x", udpUnknown, ""},
	}
	for _, tc := range tests {
		cmd, arg := parseUDP([]byte(tc.msg))
		if cmd != tc.wantCmd || string(arg) != tc.wantArg {
			t.Errorf("parseUDP(%q) = %v %q, want %v %q", tc.msg, cmd, arg, tc.wantCmd, tc.wantArg)
		}
	}
}

func FuzzParseUDP(f *testing.F) {
	for _, s := range []string{"hostname", "clientip", "echo hi", "echo", " echo\tx\n", "echoes", "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		orig := bytes.Clone(msg)
		cmd, arg := parseUDP(msg)
		if !bytes.Equal(msg, orig) {
			t.Fatal("parseUDP modified its input")
		}
		trimmed := bytes.TrimSpace(msg)
		switch cmd {
		case udpEcho:
			if !bytes.HasPrefix(trimmed, []byte("echo")) || !bytes.HasSuffix(trimmed, arg) {
				t.Fatalf("echo %q from %q", arg, msg)
			}
			if len(arg) > len(msg) {
				t.Fatalf("reply longer than request: %q from %q", arg, msg)
			}
		case udpHostname, udpClientIP:
			if arg != nil {
				t.Fatalf("arg %q for %v", arg, cmd)
			}
		case udpUnknown:
			if arg != nil {
				t.Fatalf("arg %q for unknown", arg)
			}
		default:
			t.Fatalf("command %v", cmd)
		}
	})
}

func TestUDPReply(t *testing.T) {
	u := &udpServer{hostname: []byte("pod-a")}
	v4 := netip.MustParseAddrPort("10.0.0.7:4242")
	mapped := netip.AddrPortFrom(netip.AddrFrom16(v4.Addr().As16()), 4242)
	tests := []struct {
		msg  string
		peer netip.AddrPort
		want string
		ok   bool
	}{
		{"hostname", v4, "pod-a", true},
		{"clientip", v4, "10.0.0.7:4242", true},
		{"clientip", mapped, "10.0.0.7:4242", true},
		{"clientip", netip.MustParseAddrPort("[fd00::1]:53"), "[fd00::1]:53", true},
		{"echo abc", v4, "abc", true},
		{"nope", v4, "", false},
	}
	for _, tc := range tests {
		got, ok := u.reply([]byte(tc.msg), tc.peer, nil)
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("reply(%q, %v) = %q %v, want %q %v", tc.msg, tc.peer, got, ok, tc.want, tc.ok)
		}
	}
}

func TestUDPReplyDoesNotAllocate(t *testing.T) {
	u := &udpServer{hostname: []byte("pod-a")}
	peer := netip.MustParseAddrPort("10.0.0.7:4242")
	out := make([]byte, 0, 64)
	for _, msg := range [][]byte{[]byte("hostname"), []byte("clientip"), []byte("echo x")} {
		if n := testing.AllocsPerRun(100, func() { u.reply(msg, peer, out[:0]) }); n != 0 {
			t.Errorf("%q: %v allocations, want 0", msg, n)
		}
	}
}
