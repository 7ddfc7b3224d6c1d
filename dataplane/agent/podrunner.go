package agent

import (
	"context"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/switchyard-net/switchyard/dataplane/runner"
)

// podRunner is what the agent uses of *runner.Runner; unit tests put a
// fake in its place.
type podRunner interface {
	Sync(ctx context.Context, spec runner.PodSpec) error
	Status(uid types.UID) (corev1.PodStatus, bool)
	Changes() <-chan types.UID
	Stop(ctx context.Context, uid types.UID, grace time.Duration) error
	Pods() ([]types.UID, error)
	LogPath(pod *corev1.Pod, container string) string
	ExecContainer(ctx context.Context, uid types.UID, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error)
	ExecTTY(ctx context.Context, uid types.UID, container string, cmd []string, stdin io.Reader, out io.Writer, resize <-chan runner.TerminalSize) (int, error)
	Attach(ctx context.Context, uid types.UID, container string, a runner.AttachIO) error
	PreviousLogPath(pod *corev1.Pod, container string) (string, error)
	Close() error
}

var _ podRunner = (*runner.Runner)(nil)

func newRunner(cfg runner.Config) (podRunner, error) { return runner.New(cfg) }
