package runner

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// volumesDir, in the pod's directory, holds one directory per volume.
const volumesDir = "volumes"

func nowStamp() string { return time.Now().UTC().Format("2006_01_02_15_04_05") }

// volumeDir is where the pod's volume name lives on the node.
func (p *pod) volumeDir(name string) string { return filepath.Join(p.dir, volumesDir, name) }

// prepareVolumesLocked brings every volume of the pod up to date: it
// creates emptyDirs (a tmpfs for medium Memory) and (re)writes configMap,
// secret, downwardAPI and projected volumes from the objects they show,
// atomically. It is called before containers start and on every pod
// update, so a changed ConfigMap reaches running containers.
func (p *pod) prepareVolumesLocked() error {
	var errs []error
	for i := range p.spec.Pod.Spec.Volumes {
		v := &p.spec.Pod.Spec.Volumes[i]
		if err := p.prepareVolume(v); err != nil {
			errs = append(errs, fmt.Errorf("MountVolume.SetUp failed for volume %q: %w", v.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (p *pod) prepareVolume(v *corev1.Volume) error {
	if !safeName.MatchString(v.Name) || strings.Contains(v.Name, "..") {
		return fmt.Errorf("invalid volume name")
	}
	dir := p.volumeDir(v.Name)
	vs := &v.VolumeSource
	switch {
	case vs.EmptyDir != nil:
		return p.prepareEmptyDir(dir, vs.EmptyDir)
	case vs.HostPath != nil:
		return checkHostPath(vs.HostPath)
	case vs.ConfigMap != nil, vs.Secret != nil, vs.DownwardAPI != nil, vs.Projected != nil:
		payload, err := p.payload(vs)
		if err != nil {
			return err
		}
		changed, err := writeAtomic(dir, payload)
		if changed && err == nil {
			p.r.log.Info("volume updated", "pod", p.name(), "volume", v.Name, "files", len(payload))
		}
		return err
	}
	return fmt.Errorf("volume type not supported on switchyard nodes (configMap, secret, emptyDir, downwardAPI, projected and hostPath are)")
}

// prepareEmptyDir makes the volume's directory, world-writable as
// kubelet's; medium Memory mounts a tmpfs on it (on the node, under the
// data dir, removed by Stop) with sizeLimit as its size.
func (p *pod) prepareEmptyDir(dir string, ed *corev1.EmptyDirVolumeSource) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("emptyDir: %w", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		return fmt.Errorf("emptyDir: %w", err)
	}
	if ed.Medium != corev1.StorageMediumMemory || isMountPoint(dir) {
		return nil
	}
	opts := "mode=0777"
	if ed.SizeLimit != nil && !ed.SizeLimit.IsZero() {
		opts += fmt.Sprintf(",size=%d", ed.SizeLimit.Value())
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("emptyDir tmpfs: %w", err)
	}
	return nil
}

func checkHostPath(hp *corev1.HostPathVolumeSource) error {
	t := corev1.HostPathUnset
	if hp.Type != nil {
		t = *hp.Type
	}
	st, err := os.Stat(hp.Path)
	switch {
	case t == corev1.HostPathUnset:
		return nil // the mount fails if it is not there
	case t == corev1.HostPathDirectoryOrCreate && errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(hp.Path, 0o755)
	case t == corev1.HostPathFileOrCreate && errors.Is(err, os.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(hp.Path), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(hp.Path, os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		return f.Close()
	case err != nil:
		return fmt.Errorf("hostPath %s: %w", hp.Path, err)
	case (t == corev1.HostPathDirectory || t == corev1.HostPathDirectoryOrCreate) && !st.IsDir():
		return fmt.Errorf("hostPath %s is not a directory", hp.Path)
	case (t == corev1.HostPathFile || t == corev1.HostPathFileOrCreate) && !st.Mode().IsRegular():
		return fmt.Errorf("hostPath %s is not a file", hp.Path)
	}
	return nil
}

// payload computes the files of a configMap, secret, downwardAPI or
// projected volume (kubelet's MakePayload of each plugin).
func (p *pod) payload(vs *corev1.VolumeSource) (map[string]volumeFile, error) {
	out := map[string]volumeFile{}
	var err error
	switch {
	case vs.ConfigMap != nil:
		cm := vs.ConfigMap
		err = p.configMapFiles(out, cm.Name, cm.Items, cm.Optional, mode(cm.DefaultMode))
	case vs.Secret != nil:
		s := vs.Secret
		err = p.secretFiles(out, s.SecretName, s.Items, s.Optional, mode(s.DefaultMode))
	case vs.DownwardAPI != nil:
		err = p.downwardFiles(out, vs.DownwardAPI.Items, mode(vs.DownwardAPI.DefaultMode))
	case vs.Projected != nil:
		def := mode(vs.Projected.DefaultMode)
		for _, src := range vs.Projected.Sources {
			switch {
			case src.ConfigMap != nil:
				err = p.configMapFiles(out, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, def)
			case src.Secret != nil:
				err = p.secretFiles(out, src.Secret.Name, src.Secret.Items, src.Secret.Optional, def)
			case src.DownwardAPI != nil:
				err = p.downwardFiles(out, src.DownwardAPI.Items, def)
			case src.ServiceAccountToken != nil:
				err = p.tokenFile(out, src.ServiceAccountToken, def)
			}
			if err != nil {
				break
			}
		}
	}
	return out, err
}

func mode(m *int32) os.FileMode {
	if m == nil {
		return 0o644
	}
	return os.FileMode(*m) & 0o777
}

// keyFiles adds data's keys as files: all of them, or the listed items
// (a missing key is an error unless optional).
func keyFiles(out map[string]volumeFile, data map[string][]byte, items []corev1.KeyToPath, optional bool, def os.FileMode, what string) error {
	if len(items) == 0 {
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := addFile(out, k, data[k], nil, def); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("%s references non-existent config key: %s", what, it.Key)
		}
		if err := addFile(out, it.Path, v, it.Mode, def); err != nil {
			return err
		}
	}
	return nil
}

func (p *pod) configMapFiles(out map[string]volumeFile, name string, items []corev1.KeyToPath, opt *bool, def os.FileMode) error {
	cm, err := p.r.cfg.Objects.ConfigMap(p.spec.Pod.Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && isTrue(opt) {
			return nil
		}
		return err
	}
	data := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	return keyFiles(out, data, items, isTrue(opt), def, "configMap")
}

func (p *pod) secretFiles(out map[string]volumeFile, name string, items []corev1.KeyToPath, opt *bool, def os.FileMode) error {
	s, err := p.r.cfg.Objects.Secret(p.spec.Pod.Namespace, name)
	if err != nil {
		if apierrors.IsNotFound(err) && isTrue(opt) {
			return nil
		}
		return err
	}
	data := map[string][]byte{}
	for k, v := range secretStrings(s) {
		data[k] = []byte(v)
	}
	return keyFiles(out, data, items, isTrue(opt), def, "secret")
}

// tokenFile adds a service-account token for the pod (kubelet's
// projected volume: mode from the volume, the token issued for the
// projection's audience and expirationSeconds, default 1 hour).
func (p *pod) tokenFile(out map[string]volumeFile, src *corev1.ServiceAccountTokenProjection, def os.FileMode) error {
	secs := int64(3600)
	if src.ExpirationSeconds != nil {
		secs = *src.ExpirationSeconds
	}
	tok, err := p.r.cfg.Tokens.Token(p.spec.Pod, src.Audience, secs)
	if err != nil {
		return fmt.Errorf("service account token: %w", err)
	}
	return addFile(out, src.Path, tok, nil, def)
}

// downwardFiles adds the pod's fields and containers' resources.
func (p *pod) downwardFiles(out map[string]volumeFile, items []corev1.DownwardAPIVolumeFile, def os.FileMode) error {
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = fieldValue(p.spec, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = p.containerResource(it.ResourceFieldRef)
		default:
			err = errors.New("downwardAPI item names no field")
		}
		if err != nil {
			return fmt.Errorf("downwardAPI %s: %w", it.Path, err)
		}
		if err := addFile(out, it.Path, []byte(v), it.Mode, def); err != nil {
			return err
		}
	}
	return nil
}

func (p *pod) containerResource(ref *corev1.ResourceFieldSelector) (string, error) {
	all := append(append([]corev1.Container(nil), p.spec.Pod.Spec.InitContainers...), p.spec.Pod.Spec.Containers...)
	for i := range all {
		if all[i].Name == ref.ContainerName {
			return resourceValue(&all[i], ref, p.spec.NodeAllocatable)
		}
	}
	return "", fmt.Errorf("container %q not found", ref.ContainerName)
}

// addFile adds one file at a relative path that must stay inside the
// volume.
func addFile(out map[string]volumeFile, rel string, data []byte, m *int32, def os.FileMode) error {
	clean := path.Clean(rel)
	if rel == "" || path.IsAbs(rel) || clean == ".." || strings.HasPrefix(clean, "../") || strings.HasPrefix(path.Base(clean), "..") {
		return fmt.Errorf("invalid file path %q", rel)
	}
	md := def
	if m != nil {
		md = mode(m)
	}
	out[filepath.FromSlash(clean)] = volumeFile{data: data, mode: md}
	return nil
}

// isMountPoint reports whether dir is the root of a mount (its device
// differs from its parent's).
func isMountPoint(dir string) bool {
	var st, parent unix.Stat_t
	if unix.Lstat(dir, &st) != nil || unix.Lstat(filepath.Dir(dir), &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}

// unmountUnder detaches every mount at or below dir (emptyDir tmpfs
// volumes), deepest first, so that dir can be removed.
func unmountUnder(dir string) error {
	points, err := mountPoints()
	if err != nil {
		return err
	}
	var under []string
	for _, m := range points {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			under = append(under, m)
		}
	}
	sort.Slice(under, func(i, j int) bool { return len(under[i]) > len(under[j]) })
	var errs []error
	for _, m := range under {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

// mountPoints lists the mount points of the calling thread's mount
// namespace (/proc/thread-self/mountinfo, field 5, octal escapes undone).
func mountPoints() ([]string, error) {
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			out = append(out, unescapeMountinfo(f[4]))
		}
	}
	return out, nil
}

// unescapeMountinfo undoes mountinfo's \ooo escapes (space, tab, newline,
// backslash).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1:i+4]) {
			v := (s[i+1]-'0')*64 + (s[i+2]-'0')*8 + (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < '0' || s[i] > '7' {
			return false
		}
	}
	return true
}
