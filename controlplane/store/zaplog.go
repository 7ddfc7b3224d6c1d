package store

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync/atomic"

	"go.uber.org/zap/zapcore"
)

// slogCore is a zapcore.Core that forwards etcd's log entries at or above a
// level to a slog.Logger, so the embedded server logs through the component
// logger instead of its own stderr writer.
type slogCore struct {
	min   zapcore.Level
	log   *slog.Logger
	muted *atomic.Bool // shared with the cores derived by With
}

func newSlogCore(log *slog.Logger, min zapcore.Level) *slogCore {
	return &slogCore{min: min, log: log, muted: new(atomic.Bool)}
}

// mute drops every later entry.
func (c *slogCore) mute() { c.muted.Store(true) }

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= c.min && !c.muted.Load() }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{min: c.min, log: c.log.With(attrs(fields)...), muted: c.muted}
}

// benign lists etcd error messages that are expected and retried by etcd
// itself, so they would only alarm operators.
var benign = map[string]bool{
	// A fresh member checks the schema before its first commit; the
	// version monitor retries a few seconds later.
	"failed to update storage version": true,
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) && !benign[e.Message] {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	c.log.Log(context.Background(), slogLevel(e.Level), e.Message, attrs(fields)...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.ErrorLevel:
		return slog.LevelError
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

// attrs encodes zap fields into slog key/value pairs.
func attrs(fields []zapcore.Field) []any {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]any, 0, 2*len(enc.Fields))
	for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
		out = append(out, k, enc.Fields[k])
	}
	return out
}
