package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// scratchDir, in the pod's directory, is an empty directory each
// container's shim mounts its private tmpfs on (see stageMounts).
const scratchDir = "scratch"

// volumeMountsLocked returns container c's volume mounts as bind mounts,
// parents before children.
// subPathExpr is expanded ($(VAR)) with the container's environment, as
// kubelet does.
func (p *pod) volumeMountsLocked(c *container, env *envList) ([]bindMount, error) {
	vols := map[string]*corev1.Volume{}
	for i := range p.spec.Pod.Spec.Volumes {
		vols[p.spec.Pod.Spec.Volumes[i].Name] = &p.spec.Pod.Spec.Volumes[i]
	}
	var out []bindMount
	for _, vm := range c.spec.VolumeMounts {
		v := vols[vm.Name]
		if v == nil {
			return nil, fmt.Errorf("volume mount %s: no volume %q", vm.MountPath, vm.Name)
		}
		sub := vm.SubPath
		if vm.SubPathExpr != "" {
			sub = expand(vm.SubPathExpr, env.lookup)
			if filepath.IsAbs(sub) || !filepath.IsLocal(sub) {
				return nil, fmt.Errorf("volume mount %s: subPathExpr %q expands to %q, not a path inside the volume", vm.MountPath, vm.SubPathExpr, sub)
			}
		}
		src, err := p.mountSource(v, sub)
		if err != nil {
			return nil, fmt.Errorf("volume mount %s: %w", vm.MountPath, err)
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("volume mount %s: %w", vm.MountPath, err)
		}
		vs := &v.VolumeSource
		projected := vs.ConfigMap != nil || vs.Secret != nil || vs.DownwardAPI != nil || vs.Projected != nil
		out = append(out, bindMount{
			Source:   src,
			Target:   filepath.Join("/", vm.MountPath),
			Create:   true,
			Dir:      st.IsDir(),
			ReadOnly: vm.ReadOnly || projected, // kubelet mounts these read-only
		})
	}
	sort.SliceStable(out, func(i, j int) bool {
		return strings.Count(out[i].Target, "/") < strings.Count(out[j].Target, "/")
	})
	return out, nil
}

// mountSource is the node path bind-mounted for a volume (and subPath).
// A subPath must stay inside the volume after symlinks are resolved; a
// missing one is made as a directory in writable volumes, as kubelet
// does.
func (p *pod) mountSource(v *corev1.Volume, subPath string) (string, error) {
	base := p.volumeDir(v.Name)
	if v.HostPath != nil {
		base = v.HostPath.Path
	}
	if subPath == "" {
		return base, nil
	}
	src := filepath.Join(base, subPath)
	if !under(src, base) {
		return "", fmt.Errorf("subPath %q leaves the volume", subPath)
	}
	if _, err := os.Lstat(src); errors.Is(err, os.ErrNotExist) {
		if v.EmptyDir == nil && v.HostPath == nil {
			return "", fmt.Errorf("subPath %q does not exist in volume %q", subPath, v.Name)
		}
		if err := os.MkdirAll(src, 0o777); err != nil {
			return "", fmt.Errorf("subPath: %w", err)
		}
	}
	realBase, err := filepath.EvalSymlinks(base)
	if err != nil {
		return "", fmt.Errorf("volume %q: %w", v.Name, err)
	}
	real, err := filepath.EvalSymlinks(src)
	if err != nil {
		return "", fmt.Errorf("subPath %q: %w", subPath, err)
	}
	if !under(real, realBase) {
		return "", fmt.Errorf("subPath %q resolves outside the volume", subPath)
	}
	return real, nil
}
