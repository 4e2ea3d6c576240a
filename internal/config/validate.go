package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The check* functions return "" for a good value, else what is wrong with
// it and how to fix it; the caller prefixes the key.

// nameRE is the rule for cluster and node_id: they become parts of etcd keys
// and of data_dir, so no "/", no spaces, and no leading dot.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

func checkName(s string) string {
	if s == "" {
		return "empty"
	}
	if !nameRE.MatchString(s) {
		return fmt.Sprintf("%q is not a valid name (1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit)", s)
	}
	return ""
}

// checkListen accepts host:port with a numeric port 0..65535; the host may
// be empty (all interfaces) and port 0 picks a free port.
func checkListen(s, example string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil || !validPort(port, 0) || strings.ContainsAny(host, " /") {
		return fmt.Sprintf("%q is not host:port (use e.g. %s)", s, example)
	}
	return ""
}

// checkEndpoint accepts what etcd's client dials: host:port, or a URL
// http(s)://host:port, or unix(s)://path.
func checkEndpoint(s string) string {
	// Credentials in an endpoint (user:password@host) are refused, and the
	// endpoint is not quoted whole: only what follows the last '@'.
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		shown := "…@" + s[at+1:]
		if scheme, _, ok := strings.Cut(s[:at], "://"); ok && !strings.ContainsAny(scheme, ":@/") {
			shown = scheme + "://" + shown
		}
		return fmt.Sprintf("%s holds credentials (user:password@ before the host), which are not taken from an endpoint (and not shown here): "+
			"remove them and set etcd.username and etcd.password (MASTER_ETCD_PASSWORD) instead", shown)
	}
	bad := fmt.Sprintf("%q is not host:port or an http(s):// or unix:// URL (use e.g. 127.0.0.1:2379)", s)
	scheme, rest, hasScheme := strings.Cut(s, "://")
	if !hasScheme {
		rest = s
	} else {
		switch scheme {
		case "unix", "unixs":
			if rest == "" {
				return bad
			}
			return ""
		case "http", "https":
			u, err := url.Parse(s)
			if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
				return bad
			}
			rest = u.Host
		default:
			return bad
		}
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil || host == "" || !validPort(port, 1) || strings.ContainsAny(host, " /") {
		return bad
	}
	return ""
}

func validPort(port string, lo int) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n >= lo && n <= 65535 && port == strconv.Itoa(n)
}

func checkIntRange(n, lo, hi int) string {
	if n < lo || n > hi {
		return fmt.Sprintf("%d out of range %d..%d", n, lo, hi)
	}
	return ""
}

func checkPositive(d time.Duration) string {
	if d <= 0 {
		return fmt.Sprintf("%v is not positive (use e.g. 5s)", d)
	}
	return ""
}

// checkLeaseTTL: etcd grants leases in whole seconds and clamps a TTL below
// its minimum (2s) up to it, so anything else would silently differ from
// what the user asked for.
func checkLeaseTTL(d time.Duration) string {
	const lo, hi = 2 * time.Second, 5 * time.Minute
	if d < lo || d > hi {
		return fmt.Sprintf("%v out of range 2s..5m", d)
	}
	if d%time.Second != 0 {
		return fmt.Sprintf("%v is not a whole number of seconds (etcd leases count seconds)", d)
	}
	return ""
}

var logLevels = []string{"debug", "info", "warn", "error"}

func checkLogLevel(s string) string {
	for _, l := range logLevels {
		if s == l {
			return ""
		}
	}
	return fmt.Sprintf("%q is not one of %s", s, strings.Join(logLevels, ", "))
}

// parseSize reads a byte count with an optional KiB, MiB or GiB suffix and
// checks it is a chunk size from 64KiB to 1GiB.
func parseSize(s string) (int64, string) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if strings.HasSuffix(num, u.suf) {
			num, mult = strings.TrimSuffix(num, u.suf), u.m
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Sprintf("%q is not a size (use e.g. 64MiB)", s)
	}
	n *= mult
	if n < 64<<10 || n > 1<<30 {
		return 0, fmt.Sprintf("%q out of range 64KiB..1GiB", s)
	}
	return n, ""
}

func checkOneOf(s string, allowed ...string) string {
	if slices.Contains(allowed, s) {
		return ""
	}
	return fmt.Sprintf("%q: use %s", s, strings.Join(allowed, ", "))
}
