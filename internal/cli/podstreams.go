package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// defaultContainer is the container a command without -c means: the one
// named by the kubectl.kubernetes.io/default-container annotation, else
// the first, as kubectl picks it.
func defaultContainer(ctx context.Context, cs kubernetes.Interface, namespace, pod, container string) (string, error) {
	if container != "" {
		return container, nil
	}
	p, err := cs.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	if c := p.Annotations["kubectl.kubernetes.io/default-container"]; c != "" {
		return c, nil
	}
	if len(p.Spec.Containers) == 0 {
		return "", fmt.Errorf("pod %s/%s has no containers", namespace, pod)
	}
	return p.Spec.Containers[0].Name, nil
}

// Logs prints a container's log, following it when asked, through the
// API server (pods/log), as kubectl logs does.
func Logs(ctx context.Context, s IOStreams, cfg *rest.Config, namespace, pod, container string, follow bool) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if container, err = defaultContainer(ctx, cs, namespace, pod, container); err != nil {
		return err
	}
	rc, err := cs.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, Follow: follow}).Stream(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(s.Out, rc)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Exec runs a command in a pod's container with the caller's stdio
// through the API server (pods/exec: websocket v5, else SPDY, as kubectl
// exec) and returns the command's exit code.
func Exec(ctx context.Context, s IOStreams, cfg *rest.Config, namespace, pod, container string, cmd []string) (int, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return -1, err
	}
	if container, err = defaultContainer(ctx, cs, namespace, pod, container); err != nil {
		return -1, err
	}
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container, Command: cmd, Stdin: s.In != nil, Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return -1, err
	}
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return -1, err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return -1, err
	}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: s.In, Stdout: s.Out, Stderr: s.ErrOut})
	var exit utilexec.CodeExitError
	if errors.As(err, &exit) {
		return exit.Code, nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}
