// Package nodestatus keeps a component's status as one JSON annotation on
// its Node, where `switchyard status` reads it from any machine with API
// access. The service proxier and the NetworkPolicy controller both
// publish this way; one publisher gives them the same pacing: a patch only
// when the JSON changed, at most one per interval, retried on the next
// tick when it fails.
package nodestatus

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Publisher patches Annotation on Node with the JSON of a status.
type Publisher struct {
	Client       kubernetes.Interface
	Node         string
	Annotation   string
	FieldManager string
	Interval     time.Duration
	Log          *slog.Logger

	changed chan struct{}
}

// New returns a Publisher; interval must be positive.
func New(client kubernetes.Interface, node, annotation, fieldManager string, interval time.Duration, log *slog.Logger) *Publisher {
	return &Publisher{Client: client, Node: node, Annotation: annotation, FieldManager: fieldManager,
		Interval: interval, Log: log, changed: make(chan struct{}, 1)}
}

// Changed wakes Run without blocking.
func (p *Publisher) Changed() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// Run publishes current() until ctx ends: on every tick and on Changed,
// no sooner than Interval after the last patch. current's ready false
// (nothing synced yet) publishes nothing.
func (p *Publisher) Run(ctx context.Context, current func() (status any, ready bool)) {
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	var last []byte
	var lastAt time.Time
	for {
		st, ready := current()
		body, err := json.Marshal(st)
		if ready && err == nil && !bytes.Equal(body, last) {
			if err = p.patch(ctx, body); err == nil {
				last, lastAt = body, time.Now()
			} else if ctx.Err() == nil {
				p.Log.Debug("publish status on the Node", "annotation", p.Annotation, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.changed:
			if wait := p.Interval - time.Since(lastAt); wait > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
			}
		}
	}
}

func (p *Publisher) patch(ctx context.Context, status []byte) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{p.Annotation: string(status)}},
	})
	if err != nil {
		return err
	}
	_, err = p.Client.CoreV1().Nodes().Patch(ctx, p.Node, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: p.FieldManager})
	if err != nil {
		return fmt.Errorf("patch node %s: %w", p.Node, err)
	}
	return nil
}
