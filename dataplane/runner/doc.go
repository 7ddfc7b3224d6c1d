// Package runner runs a Pod's containers as host processes, without a
// container runtime: the process side of a pod on a switchyard node. The
// agent wires the pod's network namespace (podnet) and then hands the pod
// to a [Runner], which starts, supervises, probes, restarts and stops its
// containers and reports what the agent writes into pod.status.
//
// # Isolation
//
// Each container's command runs as an ordinary host process (`image` is
// ignored, except that the well-known test images of package images supply
// an entrypoint: a built-in program of the switchyard binary) with:
//
//   - the pod's network namespace (setns to PodSpec.NetNSPath; none for
//     hostNetwork pods),
//   - a new UTS namespace whose hostname is spec.hostname or the pod name,
//   - a new mount namespace with private propagation in which
//     /etc/resolv.conf, /etc/hosts and /etc/hostname are bind mounts of
//     files the runner keeps in DataDir/pods/<ns>_<pod>/, and /sys is a
//     sysfs of the pod's network namespace — the way `ip netns exec` shows
//     /etc/netns/NAME,
//   - the cgroup CgroupRoot/sy-pod-<uid>/<container> (one leaf per
//     container, so a container's whole process tree can be signalled and
//     killed with cgroup.kill without touching its siblings; exec'd
//     commands join their container's leaf),
//   - its own session and process group, stdin from /dev/null (a pipe
//     with spec.stdin, a pseudo-terminal with spec.tty), and stdout and
//     stderr connected to its log writer (below),
//   - the pod's volumes bind-mounted at their mountPaths in that mount
//     namespace only (see stageMounts for how missing mount points are
//     made without touching the node's filesystem).
//
// # Environment and volumes
//
// The environment is built as kubelet builds it (containerEnv): env with
// $(VAR) expansion, valueFrom (fieldRef, resourceFieldRef, configMapKeyRef,
// secretKeyRef), envFrom, and the Services' link variables. ConfigMaps,
// Secrets and Services come from Config.Objects (the agent's informer
// caches). A missing required reference keeps the container Waiting with
// CreateContainerConfigError; it is retried on the next Sync of the pod.
// configMap, secret, downwardAPI and projected volumes are written under
// DataDir/pods/<ns>_<pod>/volumes/<name> with kubelet's atomic-writer
// layout (writeAtomic) and rewritten on every Sync, so changes reach
// running containers; emptyDirs live there too (medium Memory: a tmpfs,
// unmounted by Stop).
//
// # Lifecycle
//
// Init containers run in order to success before the app containers
// (initcontainers.go). postStart hooks run once a container started;
// Stop and liveness kills run preStop hooks before SIGTERM, within the
// grace period (hooks.go).
//
// # The shim
//
// Entering a network namespace, unsharing UTS and mount namespaces and
// bind-mounting files must happen in the child between fork and exec,
// which Go's os/exec cannot do (SysProcAttr.Unshareflags unshares, but it
// cannot setns or mount). So the runner re-executes its own binary
// (/proc/self/exe) with the environment variable _SWITCHYARD_POD_SHIM set
// to a JSON description of the container. [ShimMain], called first thing
// in main, recognises it, does the namespace work on a locked OS thread
// and execve's the real command, so the container's PID is the shim's PID
// and the runner is its parent. The shim's first step, before any
// namespace change, is to move itself into the container's cgroup
// (writing its PID to cgroup.procs), so everything the command forks is
// accounted and killed with the pod; until the shim reports back, Stop
// waits for it. A close-on-exec status pipe (fd 3) tells the runner
// whether the exec happened or why the set-up failed.
//
// Why not clone3(CLONE_INTO_CGROUP) (SysProcAttr.UseCgroupFD), which would
// never let the shim run outside its cgroup: on the kernels this was
// written on (6.18), a child cloned into a cgroup that has ever been
// killed through cgroup.kill is SIGKILLed at birth, so a container could
// not be restarted after a liveness kill. Migration through cgroup.procs
// has no such problem.
//
// The binary's main must therefore begin with
//
//	if runner.ShimMain() {
//		return // not reached: ShimMain execs or exits
//	}
//
// and the package's tests do the same in TestMain.
//
// # Supervision and restarts
//
// One goroutine per container waits for its process through a pidfd
// registered with Go's network poller, so no thread blocks per container
// and Close can cancel the wait. Exits are handled per restartPolicy with
// kubelet's back-off: the first restart is immediate, then Config.BackoffBase
// (10s) doubling up to Config.BackoffMax (5m); a container that ran for
// twice BackoffMax starts over. Readiness, liveness and startup probes
// (httpGet, tcpSocket, exec) follow the Kubernetes definitions.
//
// # Logs and attach
//
// Each instance of a container gets a log writer (logwriter_linux.go): the
// switchyard binary re-executed (see ShimMain) in the pod's cgroup leaf
// _logs, in a session of its own, holding the other ends of the
// container's stdio, as conmon does for CRI-O. It writes
// DataDir/pods/<ns>_<pod>/logs/<container>/<n>.log in the CRI log format
// (package crilog: a time, the stream and a full/partial tag per line),
// rotated by Config.LogMaxSize and LogMaxFiles, and serves attach sessions
// on <n>.sock next to it. Instance n+1 of a container logs to n+1.log; n.log
// stays for `kubectl logs --previous`, older ones are removed. The writer
// does not depend on the agent: while the agent restarts, containers keep
// logging, and the next Runner's Attach reaches adopted containers
// through the same socket. It exits once its container's output ends.
//
// # Surviving an agent restart
//
// [Runner.Close] stops the goroutines but leaves the processes running. On
// every status change the runner writes DataDir/pods/<ns>_<pod>/state.json
// (PIDs with their start times, restart counts, last states). A new Runner
// adopts a pod on its first [Runner.Sync] or [Runner.Adopt]: a process still
// alive, with the recorded start time and inside the container's cgroup,
// is watched again through a pidfd; one that vanished is treated as exited
// with an unknown code (a process that is not our child cannot be waited
// for), and restarted per restartPolicy.
//
// All Runner methods are safe for concurrent use.
package runner
