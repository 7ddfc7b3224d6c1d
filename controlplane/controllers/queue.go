package controllers

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// errRetry asks the worker to requeue a key with backoff without logging:
// the controller expects a condition (e.g. a fresher cache) to arrive soon.
var errRetry = errors.New("retry")

// queue is a rate-limited workqueue of object keys with its sync function.
type queue struct {
	workqueue.TypedRateLimitingInterface[string]
	name string
	log  *slog.Logger
	sync func(ctx context.Context, key string) error
}

func newQueue(name string, log *slog.Logger, sync func(context.Context, string) error) *queue {
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
	return &queue{TypedRateLimitingInterface: q, name: name, log: log, sync: sync}
}

// enqueue adds the key of obj, which may be a cache tombstone.
func (q *queue) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		q.log.Warn("cannot key object", "err", err)
		return
	}
	q.Add(key)
}

// keyHandler queues the key of every added, updated or deleted object: the
// event handler of a controller's primary kind.
func (q *queue) keyHandler() cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    q.enqueue,
		UpdateFunc: func(_, obj any) { q.enqueue(obj) },
		DeleteFunc: q.enqueue,
	}
}

// run starts workers goroutines and blocks until ctx is done and they all
// returned. The queue cannot be reused afterwards.
func (q *queue) run(ctx context.Context, workers int) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for q.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
}

func (q *queue) processNext(ctx context.Context) bool {
	key, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(key)
	err := q.sync(ctx, key)
	switch {
	case err == nil:
		q.Forget(key)
	case ctx.Err() != nil:
		// Shutting down: the next leader resyncs everything.
	default:
		if !errors.Is(err, errRetry) {
			q.log.Warn("sync failed; will retry", "key", key, "err", err)
		}
		q.AddRateLimited(key)
	}
	return true
}

// tombstone unwraps a cache.DeletedFinalStateUnknown.
func tombstone(obj any) any {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		return t.Obj
	}
	return obj
}
