package sandbox

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
)

// Cmd is an exec.Cmd bound to a namespace: its Start, Run, Output and
// CombinedOutput launch the process inside the namespace. Everything else
// (Wait, Process, Stdout, Env, SysProcAttr, …) is the embedded exec.Cmd's.
type Cmd struct {
	*exec.Cmd
	ns *NS
}

// Command is like exec.CommandContext, for a process that runs inside the
// namespace. No `ip netns exec` is involved: the process is forked from a
// thread that is inside the namespace, and inherits it.
func (n *NS) Command(ctx context.Context, name string, args ...string) *Cmd {
	return &Cmd{Cmd: exec.CommandContext(ctx, name, args...), ns: n}
}

// StartIn starts cmd inside the namespace n. Use it for an exec.Cmd built
// elsewhere; cmd.Start itself would start the process in the caller's
// namespace.
func StartIn(n *NS, cmd *exec.Cmd) error {
	return n.Do(cmd.Start)
}

// Start starts the process inside the namespace.
func (c *Cmd) Start() error { return StartIn(c.ns, c.Cmd) }

// Run starts the process inside the namespace and waits for it.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the process and returns its standard output. As with
// exec.Cmd.Output, a non-zero exit returns an *exec.ExitError whose Stderr
// holds the standard error when c.Stderr was nil.
func (c *Cmd) Output() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("exec: Stdout already set")
	}
	var stdout, stderr bytes.Buffer
	c.Stdout = &stdout
	captureErr := c.Stderr == nil
	if captureErr {
		c.Stderr = &stderr
	}
	err := c.Run()
	var ee *exec.ExitError
	if captureErr && errors.As(err, &ee) {
		ee.Stderr = stderr.Bytes()
	}
	return stdout.Bytes(), err
}

// CombinedOutput runs the process and returns its standard output and
// standard error together.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	if c.Stdout != nil || c.Stderr != nil {
		return nil, errors.New("exec: Stdout or Stderr already set")
	}
	var b bytes.Buffer
	c.Stdout, c.Stderr = &b, &b
	err := c.Run()
	return b.Bytes(), err
}

// Listen is net.Listen with the socket created inside the namespace; it
// stays there, whichever goroutine accepts on it.
func (n *NS) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) {
		l, err = net.Listen(network, address)
		return err
	})
	return l, err
}

// ListenPacket is net.ListenPacket inside the namespace.
func (n *NS) ListenPacket(network, address string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := n.Do(func() (err error) {
		pc, err = net.ListenPacket(network, address)
		return err
	})
	return pc, err
}

// DialContext dials from inside the namespace. Its signature fits
// http.Transport.DialContext and rest.Config.Dial. Give IP addresses: host
// names may be resolved outside the namespace.
func (n *NS) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	// A negative FallbackDelay keeps the dial on this goroutine (no
	// happy-eyeballs racers on other threads, outside the namespace).
	d := net.Dialer{FallbackDelay: -1}
	var c net.Conn
	err := n.Do(func() (err error) {
		c, err = d.DialContext(ctx, network, address)
		return err
	})
	return c, err
}
