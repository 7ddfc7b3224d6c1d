package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// stateFile, in the pod's directory, is what a later Runner adopts.
const stateFile = "state.json"

// podState is the content of state.json.
type podState struct {
	UID        types.UID                  `json:"uid"`
	Namespace  string                     `json:"namespace"`
	Name       string                     `json:"name"`
	StartTime  time.Time                  `json:"startTime"`
	Containers map[string]*containerState `json:"containers"`
}

// Container phases in containerState.Phase.
const (
	phaseWaiting    = "waiting"
	phaseRunning    = "running"
	phaseTerminated = "terminated"
)

type containerState struct {
	Phase string `json:"phase"`
	// PID and StartTicks identify the running process.
	PID          int       `json:"pid,omitempty"`
	StartTicks   uint64    `json:"startTicks,omitempty"`
	StartedAt    time.Time `json:"startedAt,omitzero"`
	RestartCount int32     `json:"restartCount"`
	// Backoffs counts consecutive exits, for the next restart delay.
	Backoffs   int                              `json:"backoffs,omitempty"`
	Ready      bool                             `json:"ready,omitempty"`
	Started    bool                             `json:"started,omitempty"`
	Terminated *corev1.ContainerStateTerminated `json:"terminated,omitempty"`
	Last       *corev1.ContainerStateTerminated `json:"last,omitempty"`
}

// writeState replaces dir/state.json atomically (write, fsync, rename).
func writeState(dir string, st *podState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp, err := os.CreateTemp(dir, stateFile+".*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, stateFile))
	}
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// readState returns dir/state.json if it belongs to the pod uid, nil if
// there is none or it belongs to an earlier pod of the same name.
func readState(dir string, uid types.UID) (*podState, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var st podState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("read state %s: %w", filepath.Join(dir, stateFile), err)
	}
	if st.UID != uid {
		return nil, nil
	}
	return &st, nil
}

// findPodDir returns the directory under DataDir/pods whose state.json
// belongs to uid, or "".
func findPodDir(dataDir string, uid types.UID) string {
	dirs, _ := filepath.Glob(filepath.Join(dataDir, "pods", "*"))
	for _, d := range dirs {
		if st, err := readState(d, uid); err == nil && st != nil {
			return d
		}
	}
	return ""
}
