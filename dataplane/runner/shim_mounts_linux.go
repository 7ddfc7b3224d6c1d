package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount points in the container's private mount namespace.
//
// Containers run on the node's own filesystem, so a volume's mountPath
// (/etc/config, /data) may not exist, and creating it on the node would
// litter the host. The rule: a mount whose target exists is bind-mounted
// over it. For targets that do not exist, the shim takes the nearest
// existing ancestor A of each and, in the container's mount namespace
// only, puts an overlay over A: the lower layer is A as the node has it,
// the upper layer a tmpfs private to the container. The missing
// directories (or empty files, for single-file subPath mounts) are made
// in that upper layer, so they exist for the container alone and vanish
// with it; the node's A is never written. Mounts below A (for A = "/":
// /proc, /dev, /sys, /run, ...) are bind-mounted again on top of the
// overlay, which would otherwise hide them. Everything is assembled on a
// staging overlay first and then moved over A; for A = "/" the shim then
// chroots into the moved overlay (as switch_root does), and `exec` into
// the container lands there too (setns of a mount namespace starts at
// the mount on top of its root). Writes a container makes outside its
// volumes still go to the node's files, as with any host process, except
// inside such an overlay, where they go to the tmpfs and are lost.

// stageMounts prepares the mounts of a new container mount namespace:
// overlays for missing targets (see above), then every bind mount, in
// order, and returns a function that moves the overlays into place.
// scratch is an empty directory for the overlays' tmpfs.
func stageMounts(mounts []bindMount, scratch string) (finish func() error, err error) {
	type overlay struct{ lower, merged string }
	var overlays []overlay
	for i := range mounts {
		if mounts[i].Create {
			mounts[i].Target = resolveExisting(mounts[i].Target)
		}
	}
	ancestors := missingAncestors(mounts)
	if len(ancestors) > 0 {
		if scratch == "" {
			return nil, errors.New("mount points are missing and there is no scratch directory")
		}
		if err := unix.Mount("tmpfs", scratch, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
			return nil, fmt.Errorf("scratch tmpfs: %w", err)
		}
	}
	for i, a := range ancestors {
		merged, err := overlayAt(a, filepath.Join(scratch, strconv.Itoa(i)), scratch)
		if err != nil {
			return nil, err
		}
		overlays = append(overlays, overlay{a, merged})
	}
	// staged is where a target is while the overlays are not yet moved.
	staged := func(target string) (string, bool) {
		for _, o := range overlays {
			if under(target, o.lower) {
				return filepath.Join(o.merged, strings.TrimPrefix(target, o.lower)), true
			}
		}
		return target, false
	}
	var bound []string
	for _, m := range mounts {
		dst, inOverlay := staged(m.Target)
		if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
			inVolume := false
			for _, b := range bound {
				inVolume = inVolume || under(m.Target, b)
			}
			switch {
			case m.Optional:
				continue
			case !m.Create || (!inOverlay && !inVolume):
				return nil, fmt.Errorf("mount point %s does not exist", m.Target)
			}
			if err := makeMountPoint(dst, m.Dir); err != nil {
				return nil, fmt.Errorf("mount point %s: %w", m.Target, err)
			}
		}
		if err := unix.Mount(m.Source, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return nil, fmt.Errorf("bind mount %s on %s: %w", m.Source, m.Target, err)
		}
		if m.ReadOnly {
			if err := unix.Mount("", dst, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return nil, fmt.Errorf("read-only mount %s: %w", m.Target, err)
			}
		}
		bound = append(bound, m.Target)
	}
	return func() error {
		for _, o := range overlays {
			if err := moveOver(o.merged, o.lower); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// resolveExisting resolves the symlinks in the part of target that
// exists (/var/run -> /run). Without it a missing rest would be made
// through an absolute symlink inside an overlay, which leads out of the
// overlay onto the node's own files (the service-account token's
// /var/run/secrets/... did so).
func resolveExisting(target string) string {
	existing, rest := target, ""
	for existing != "/" {
		if _, err := os.Lstat(existing); err == nil {
			break
		}
		rest = filepath.Join(filepath.Base(existing), rest)
		existing = filepath.Dir(existing)
	}
	real, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return target
	}
	return filepath.Join(real, rest)
}

// missingAncestors returns the nearest existing ancestors of the targets
// that may be created and do not exist, without any that lies below
// another.
func missingAncestors(mounts []bindMount) []string {
	var as []string
	for _, m := range mounts {
		if !m.Create {
			continue
		}
		if _, err := os.Lstat(m.Target); !errors.Is(err, os.ErrNotExist) {
			continue
		}
		a := filepath.Dir(m.Target)
		for {
			if _, err := os.Lstat(a); err == nil || a == "/" {
				break
			}
			a = filepath.Dir(a)
		}
		as = append(as, a)
	}
	sort.Slice(as, func(i, j int) bool { return len(as[i]) < len(as[j]) })
	var kept []string
	for _, a := range as {
		covered := false
		for _, k := range kept {
			covered = covered || under(a, k)
		}
		if !covered {
			kept = append(kept, a)
		}
	}
	return kept
}

// overlayAt mounts an overlay of lower with a tmpfs upper layer at
// dir/merged and binds lower's submounts (except scratch) on top of it.
func overlayAt(lower, dir, scratch string) (string, error) {
	if strings.ContainsAny(lower, ",:\\") {
		return "", fmt.Errorf("cannot overlay %s: the path holds ',', ':' or '\\'", lower)
	}
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", fmt.Errorf("overlay dirs: %w", err)
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return "", fmt.Errorf("overlay on %s for missing mount points: %w", lower, err)
	}
	points, err := mountPoints()
	if err != nil {
		return "", err
	}
	var subs []string
	for _, p := range points {
		if p != lower && under(p, lower) && !under(p, scratch) {
			subs = append(subs, p)
		}
	}
	sort.Strings(subs)
	var done []string
	for _, s := range subs {
		covered := false
		for _, d := range done {
			covered = covered || under(s, d)
		}
		if covered {
			continue
		}
		dst := filepath.Join(merged, strings.TrimPrefix(s, lower))
		if err := unix.Mount(s, dst, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return "", fmt.Errorf("keep mount %s under the overlay on %s: %w", s, lower, err)
		}
		done = append(done, s)
	}
	return merged, nil
}

// moveOver moves the staged mount merged over target; for "/" the
// calling thread then chroots into it.
func moveOver(merged, target string) error {
	if target != "/" {
		if err := unix.Mount(merged, target, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move overlay onto %s: %w", target, err)
		}
		return nil
	}
	if err := unix.Chdir(merged); err != nil {
		return fmt.Errorf("enter new root: %w", err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move overlay onto /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot into the overlay: %w", err)
	}
	return unix.Chdir("/")
}

func makeMountPoint(p string, dir bool) error {
	if dir {
		return os.MkdirAll(p, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// under reports whether p is base or below it.
func under(p, base string) bool {
	return base == "/" || p == base || strings.HasPrefix(p, base+"/")
}
