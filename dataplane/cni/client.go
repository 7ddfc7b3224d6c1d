package cni

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// maxResponseBody bounds what the client reads from the agent.
const maxResponseBody = 1 << 20

// Client is the plugin side of the protocol: it calls the agent on its unix
// socket. Every error it returns is a [*types.Error] (see the package
// documentation for the codes). It implements [Backend], so the agent can
// be driven in-process the same way the plugin drives it. Safe for
// concurrent use.
type Client struct {
	socket string
	hc     *http.Client
}

var _ Backend = (*Client)(nil)

// NewClient returns a client for the agent listening on socketPath.
// Deadlines come from the ctx of each call.
func NewClient(socketPath string) *Client {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socketPath)
		},
		DisableCompression:  true,
		MaxIdleConnsPerHost: 16,
	}
	return &Client{socket: socketPath, hc: &http.Client{Transport: tr}}
}

// Add asks the agent to attach a container and returns the 1.1.0 result.
func (c *Client) Add(ctx context.Context, req AddRequest) (*current.Result, error) {
	var res current.Result
	if err := c.call(ctx, http.MethodPost, PathAdd, req, &res, types.ErrTryAgainLater); err != nil {
		return nil, err
	}
	if res.CNIVersion == "" {
		res.CNIVersion = current.ImplementedSpecVersion
	}
	return &res, nil
}

// Del asks the agent to detach a container.
func (c *Client) Del(ctx context.Context, req DelRequest) error {
	return c.call(ctx, http.MethodPost, PathDel, req, nil, types.ErrTryAgainLater)
}

// Check asks the agent to verify an attachment.
func (c *Client) Check(ctx context.Context, req CheckRequest) error {
	return c.call(ctx, http.MethodPost, PathCheck, req, nil, types.ErrTryAgainLater)
}

// GC asks the agent to release attachments missing from the valid list.
func (c *Client) GC(ctx context.Context, req GCRequest) error {
	if req.ValidAttachments == nil {
		req.ValidAttachments = []types.GCAttachment{}
	}
	return c.call(ctx, http.MethodPost, PathGC, req, nil, types.ErrTryAgainLater)
}

// Status asks whether the agent is ready; unreachable is code 50.
func (c *Client) Status(ctx context.Context) error {
	return c.call(ctx, http.MethodGet, PathStatus, nil, nil, types.ErrPluginNotAvailable)
}

// call sends in (unless nil) to path and decodes a 2xx answer into out
// (unless nil). unreachable is the code for transport failures.
func (c *Client) call(ctx context.Context, method, path string, in, out any, unreachable uint) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return types.NewError(types.ErrInternal, "encode request", err.Error())
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, body)
	if err != nil {
		return types.NewError(types.ErrInternal, "build request", err.Error())
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return types.NewError(unreachable, fmt.Sprintf("switchyard agent unreachable on %s", c.socket), err.Error())
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	if err != nil {
		return types.NewError(unreachable, fmt.Sprintf("switchyard agent on %s: read answer", c.socket), err.Error())
	}
	if resp.StatusCode/100 != 2 {
		return agentError(resp.Status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return types.NewError(types.ErrInternal, "decode agent answer", err.Error())
		}
	}
	return nil
}

// agentError decodes the CNI error the agent sent with a non-2xx status.
// Code 0 or an undecodable body (not our agent, or a proxy) is internal.
func agentError(status string, data []byte) *types.Error {
	var e types.Error
	if err := json.Unmarshal(data, &e); err != nil || e.Code == 0 {
		return types.NewError(types.ErrInternal, "switchyard agent answered "+status, string(bytes.TrimSpace(data)))
	}
	return &e
}
