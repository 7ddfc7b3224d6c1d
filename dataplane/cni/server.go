package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/utils"
)

// maxRequestBody bounds a request body; a prevResult is a few KiB.
const maxRequestBody = 1 << 20

// NewHandler returns the agent side of the protocol, serving b. Mount it on
// the agent's unix socket ([Serve] does). It validates every request before
// calling b, so b sees only well-formed container IDs and interface names.
func NewHandler(b Backend) http.Handler {
	h := &handler{b: b}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathAdd, h.add)
	mux.HandleFunc("POST "+PathDel, h.del)
	mux.HandleFunc("POST "+PathCheck, h.check)
	mux.HandleFunc("POST "+PathGC, h.gc)
	mux.HandleFunc("GET "+PathStatus, h.status)
	mux.HandleFunc("POST "+PathInvoke, h.invoke)
	return mux
}

type handler struct{ b Backend }

func (h *handler) add(w http.ResponseWriter, r *http.Request) {
	var req AddRequest
	if !decode(w, r, &req) || !validAttachment(w, req.ContainerID, req.IfName) {
		return
	}
	res, err := h.b.Add(r.Context(), req)
	if err == nil {
		res, err = checkResult(res)
	}
	if err != nil {
		writeError(w, asCNIError(err, types.ErrInternal))
		return
	}
	body, err := json.Marshal(res)
	if err != nil {
		writeError(w, types.NewError(types.ErrInternal, "encode result", err.Error()))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func (h *handler) del(w http.ResponseWriter, r *http.Request) {
	var req DelRequest
	if !decode(w, r, &req) || !validAttachment(w, req.ContainerID, req.IfName) {
		return
	}
	reply(w, h.b.Del(r.Context(), req), types.ErrInternal)
}

func (h *handler) check(w http.ResponseWriter, r *http.Request) {
	var req CheckRequest
	if !decode(w, r, &req) || !validAttachment(w, req.ContainerID, req.IfName) {
		return
	}
	if req.PrevResult == nil {
		writeError(w, types.NewError(types.ErrInvalidNetworkConfig, "CHECK needs prevResult", ""))
		return
	}
	reply(w, h.b.Check(r.Context(), req), types.ErrInternal)
}

func (h *handler) gc(w http.ResponseWriter, r *http.Request) {
	var req GCRequest
	if !decode(w, r, &req) {
		return
	}
	if req.ValidAttachments == nil {
		writeError(w, types.NewError(types.ErrInvalidNetworkConfig, "GC needs the list of valid attachments", ""))
		return
	}
	reply(w, h.b.GC(r.Context(), req), types.ErrInternal)
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	reply(w, h.b.Status(r.Context()), types.ErrPluginNotAvailable)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err := dec.Decode(v); err != nil {
		writeError(w, types.NewError(types.ErrDecodingFailure, "decode request", err.Error()))
		return false
	}
	return true
}

// validAttachment rejects what the agent would otherwise turn into kernel
// names or store keys; skel checks the same on the plugin side.
func validAttachment(w http.ResponseWriter, containerID, ifName string) bool {
	if err := utils.ValidateContainerID(containerID); err != nil {
		writeError(w, err)
		return false
	}
	if err := utils.ValidateInterfaceName(ifName); err != nil {
		writeError(w, err)
		return false
	}
	return true
}

// checkResult stamps the result version without touching the backend's
// copy, and rejects results a runtime could not use.
func checkResult(res *current.Result) (*current.Result, error) {
	if res == nil {
		return nil, errors.New("agent returned no result")
	}
	for i, ip := range res.IPs {
		if ip == nil || ip.Address.IP == nil {
			return nil, fmt.Errorf("agent result: ips[%d] has no address", i)
		}
		if ip.Interface != nil && (*ip.Interface < 0 || *ip.Interface >= len(res.Interfaces)) {
			return nil, fmt.Errorf("agent result: ips[%d] names interface %d of %d", i, *ip.Interface, len(res.Interfaces))
		}
	}
	out := *res
	out.CNIVersion = current.ImplementedSpecVersion
	return &out, nil
}

func reply(w http.ResponseWriter, err error, fallback uint) {
	if err != nil {
		writeError(w, asCNIError(err, fallback))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeError answers e. Answers always carry Content-Length: the slim
// plugin (package relay) reads no chunked encoding.
func writeError(w http.ResponseWriter, e *types.Error) {
	body, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(httpStatus(e.Code))
	w.Write(body)
}

// shutdownGrace is how long Serve lets in-flight requests finish.
const shutdownGrace = 10 * time.Second

// Serve listens on socketPath ([Listen]) and serves b until ctx is done,
// then lets in-flight requests finish (up to 10 s), removes the socket and
// returns nil. Other returns are listen or serve errors.
func Serve(ctx context.Context, socketPath string, b Backend) error {
	ln, err := Listen(socketPath)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: NewHandler(b), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err = <-errc:
		ln.Close()
		return fmt.Errorf("cni: serve %s: %w", socketPath, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if srv.Shutdown(sctx) != nil {
		srv.Close()
	}
	<-errc
	return nil
}
