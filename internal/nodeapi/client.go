package nodeapi

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Client talks to a node agent's socket.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client of the agent listening on socket.
func NewClient(socket string) *Client {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}
	return &Client{socket: socket, http: &http.Client{Transport: &http.Transport{DialContext: dial}}}
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.socket)
	if err != nil {
		return nil, fmt.Errorf("reach the node agent at %s (logs and exec work on the node running the pod): %w", c.socket, err)
	}
	return conn, nil
}

func podQuery(ns, pod, container string) url.Values {
	return url.Values{"namespace": {ns}, "pod": {pod}, "container": {container}}
}

// Logs copies a container's log to w, following it when follow is set
// until ctx ends or the pod goes away.
func (c *Client) Logs(ctx context.Context, ns, pod, container string, follow bool, w io.Writer) error {
	q := podQuery(ns, pod, container)
	if follow {
		q.Set("follow", "true")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://agent/v1/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reach the node agent at %s (logs work on the node running the pod): %w", c.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return responseError(resp)
	}
	_, err = io.Copy(w, resp.Body)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func responseError(resp *http.Response) error {
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	text := strings.TrimSpace(string(msg))
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %s", ErrNotFound, text)
	}
	return fmt.Errorf("node agent: %s: %s", resp.Status, text)
}

// Exec runs cmd in a container and returns its exit code.
func (c *Client) Exec(ctx context.Context, ns, pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	q := podQuery(ns, pod, container)
	q["command"] = cmd
	fmt.Fprintf(conn, "POST /v1/exec?%s HTTP/1.1\r\nHost: agent\r\nConnection: Upgrade\r\nUpgrade: %s\r\nContent-Length: 0\r\n\r\n", q.Encode(), upgradeProto)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		return -1, responseError(resp)
	}
	fw := &frameWriter{w: conn}
	if stdin != nil {
		go func() {
			_, _ = io.Copy(streamWriter{fw, streamStdin}, stdin)
			_ = fw.write(streamStdin, nil)
		}()
	} else {
		_ = fw.write(streamStdin, nil)
	}
	return readOutput(br, stdout, stderr)
}

func readOutput(r io.Reader, stdout, stderr io.Writer) (int, error) {
	for {
		stream, p, err := readFrame(r)
		if err != nil {
			return -1, fmt.Errorf("exec stream ended without an exit code: %w", err)
		}
		switch stream {
		case streamStdout:
			_, _ = stdout.Write(p)
		case streamStderr:
			_, _ = stderr.Write(p)
		case streamExit:
			if len(p) != 4 {
				return -1, errors.New("exec: malformed exit frame")
			}
			return int(int32(binary.BigEndian.Uint32(p))), nil
		case streamError:
			return -1, fmt.Errorf("exec: %s", p)
		case streamNotFound:
			return -1, fmt.Errorf("exec: %w", ErrNotFound)
		}
	}
}
