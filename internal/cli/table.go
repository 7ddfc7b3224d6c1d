package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"

	"github.com/switchyard-net/switchyard/internal/printers"
)

// tableAccept asks for a server-side Table and accepts a plain object from
// servers that cannot make one.
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

// listLimit is the page size of list requests, as kubectl's.
const listLimit = 500

// tableRequest starts a Table request for one resource: the item name, or
// the collection when name is empty. ns is empty for cluster-scoped
// resources and for all namespaces.
func (c *clients) tableRequest(m *meta.RESTMapping, ns, name string) (*rest.Request, error) {
	rc, err := c.restClient(m.Resource.GroupVersion())
	if err != nil {
		return nil, err
	}
	req := rc.Get().NamespaceIfScoped(ns, namespaced(m) && ns != "").Resource(m.Resource.Resource).SetHeader("Accept", tableAccept)
	if name != "" {
		req = req.Name(name)
	}
	return req, nil
}

// getTable fetches one object, or the whole list page by page, as a Table.
func (c *clients) getTable(ctx context.Context, m *meta.RESTMapping, ns, name string, opts metav1.ListOptions) (*metav1.Table, error) {
	var all *metav1.Table
	opts.Limit = listLimit
	for {
		req, err := c.tableRequest(m, ns, name)
		if err != nil {
			return nil, err
		}
		if name == "" {
			req = req.VersionedParams(&opts, metav1.ParameterCodec)
		}
		res := req.Do(ctx)
		if err := res.Error(); err != nil {
			return nil, err // Error, unlike Raw, decodes a Status body
		}
		body, _ := res.Raw()
		t, err := decodeTable(body)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = t
		} else {
			all.Rows = append(all.Rows, t.Rows...)
			all.ResourceVersion = t.ResourceVersion
		}
		if name != "" || t.Continue == "" {
			all.Continue = ""
			return all, nil
		}
		opts.Continue = t.Continue
	}
}

// decodeTable reads a Table, or renders a plain object or list (from a
// server that ignored the Table request) with the client's own printers.
func decodeTable(body []byte) (*metav1.Table, error) {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(body, &tm); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	if tm.Kind == "Table" {
		t := &metav1.Table{}
		if err := json.Unmarshal(body, t); err != nil {
			return nil, fmt.Errorf("decode table: %w", err)
		}
		return t, nil
	}
	obj, err := runtime.Decode(unstructured.UnstructuredJSONScheme, body)
	if err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return printers.Table(obj, string(metav1.IncludeMetadata), time.Now())
}

// watchTable watches a collection from opts.ResourceVersion and calls each
// with every added, modified or deleted object as a one-row Table. It
// returns nil when the server ends the watch or ctx is cancelled.
func (c *clients) watchTable(ctx context.Context, m *meta.RESTMapping, ns string, opts metav1.ListOptions, each func(*metav1.Table) error) error {
	req, err := c.tableRequest(m, ns, "")
	if err != nil {
		return err
	}
	opts.Watch = true
	stream, err := req.VersionedParams(&opts, metav1.ParameterCodec).Stream(ctx)
	if err != nil {
		if contextDone(ctx, err) {
			return nil
		}
		return err
	}
	defer stream.Close()
	dec := json.NewDecoder(stream)
	for {
		var ev metav1.WatchEvent
		if err := dec.Decode(&ev); err != nil {
			if errors.Is(err, io.EOF) || contextDone(ctx, err) {
				return nil
			}
			return fmt.Errorf("watch: %w", err)
		}
		switch ev.Type {
		case "BOOKMARK":
			continue
		case "ERROR":
			return watchError(ev.Object.Raw)
		}
		t, err := decodeTable(ev.Object.Raw)
		if err != nil {
			return err
		}
		if err := each(t); err != nil {
			return err
		}
	}
}

// watchError turns the Status of an ERROR watch event into an API error.
func watchError(raw []byte) error {
	var st metav1.Status
	if err := json.Unmarshal(raw, &st); err != nil || st.Message == "" {
		return fmt.Errorf("watch: unexpected error event: %s", raw)
	}
	return &apierrors.StatusError{ErrStatus: st}
}
