package gateway

import "strings"

// wildcardCovers reports whether the wildcard hostname w ("*.suffix")
// covers host h: h ends in ".suffix" with at least one label before it
// (Gateway API wildcards cover one or more labels).
func wildcardCovers(w, h string) bool {
	suffix := w[1:] // ".suffix"
	return len(h) > len(suffix) && strings.HasSuffix(h, suffix) && !strings.HasPrefix(h, "*")
}

func isWildcard(h string) bool { return strings.HasPrefix(h, "*.") }

// intersect is the hostname a route hostname r serves on a listener with
// hostname l ("" for none), and whether they intersect at all, as the
// Listener and HTTPRoute hostname documentation define it: the more
// specific of the two when one covers the other.
func intersect(l, r string) (string, bool) {
	switch {
	case l == "":
		return r, true
	case r == "":
		return l, true
	case l == r:
		return l, true
	case isWildcard(l) && !isWildcard(r):
		return r, wildcardCovers(l, r)
	case !isWildcard(l) && isWildcard(r):
		return l, wildcardCovers(r, l)
	case isWildcard(l) && isWildcard(r):
		// The longer suffix is the more specific one.
		if wildcardCovers(r, "x"+l[1:]) {
			return l, true
		}
		if wildcardCovers(l, "x"+r[1:]) {
			return r, true
		}
	}
	return "", false
}

// effectiveHostnames lists the hostnames a route with hostnames rs serves
// on a listener with hostname l; ok is false when none intersect.
func effectiveHostnames(l string, rs []string) ([]string, bool) {
	if len(rs) == 0 {
		return []string{l}, true
	}
	var out []string
	for _, r := range rs {
		if h, ok := intersect(l, strings.ToLower(r)); ok {
			out = append(out, h)
		}
	}
	return out, len(out) > 0
}
