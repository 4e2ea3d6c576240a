// Command mutants breaks the system's safety invariants one at a time on
// purpose and checks that a test notices each one (mutation testing).
//
//	go run ./test/mutants            # every mutant
//	go run ./test/mutants -list      # the table, without running anything
//	go run ./test/mutants -only confirm-noop,append-no-head-compare
//
// For each mutant of the table (table.go) it replaces one exact string in a
// scratch copy of the repository (the tracked and untracked, not ignored,
// files of the working tree, so uncommitted tests count), runs the tests
// named for it with a bounded time, and restores the file. Before that it
// runs the same tests unmutated: they must pass, or no result means
// anything. It prints a table (mutant, caught or survived, the failing test,
// its time) and exits 1 if any mutant survived or could not be applied.
//
// It is not part of `go test ./...`; TestEveryMutantApplies is, and keeps
// the table in step with the code.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// mutant is one deliberate breakage: Old, found exactly once in File
// (relative to the module root), becomes New; `go test -run Tests Package`
// must then fail.
type mutant struct {
	Name    string
	File    string
	Old     string
	New     string
	Package string // ./path relative to the module root
	Tests   string // test names, | separated (anchored as ^(Tests)$)
}

type result struct {
	m        mutant
	status   string // caught, SURVIVED, error
	caughtBy string
	testTime time.Duration // the failing test's own time, from its --- FAIL line
	wall     time.Duration // the whole go test run, build included
	detail   string
}

func main() {
	list := flag.Bool("list", false, "print the mutants and exit")
	only := flag.String("only", "", "comma-separated mutant names to run (default: all)")
	timeout := flag.Duration("timeout", 3*time.Minute, "bound on one go test run (passed as -timeout)")
	race := flag.Bool("race", false, "run the tests with -race")
	keep := flag.Bool("keep", false, "keep the scratch copy and print its path")
	verbose := flag.Bool("v", false, "print each run's go test output")
	flag.Parse()
	if err := run(*list, *only, *timeout, *race, *keep, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		os.Exit(1)
	}
}

func run(list bool, only string, timeout time.Duration, race, keep, verbose bool) error {
	sel, err := selectMutants(only)
	if err != nil {
		return err
	}
	if list {
		fmt.Println("| mutant | file | package | tests |")
		fmt.Println("| --- | --- | --- | --- |")
		for _, m := range sel {
			fmt.Printf("| %s | %s | %s | %s |\n", m.Name, m.File, m.Package, m.Tests)
		}
		return nil
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	scratch, err := os.MkdirTemp("", "gfsha-mutants-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(os.Stderr, "mutants: scratch copy in", scratch)
	} else {
		defer os.RemoveAll(scratch)
	}
	if err := copyTree(root, scratch); err != nil {
		return fmt.Errorf("copy %s to %s: %w", root, scratch, err)
	}

	// Baseline: every test run the mutants use passes unmutated.
	done := map[string]bool{}
	for _, m := range sel {
		key := m.Package + " " + m.Tests
		if done[key] {
			continue
		}
		done[key] = true
		fmt.Fprintf(os.Stderr, "baseline  %s -run %s ... ", m.Package, m.Tests)
		out, wall, err := goTest(scratch, m, timeout, race)
		if err != nil {
			fmt.Fprintln(os.Stderr, "FAIL")
			return fmt.Errorf("baseline: go test -run %q %s fails on the unmutated code (fix it first):\n%s", m.Tests, m.Package, tail(out, 40))
		}
		fmt.Fprintf(os.Stderr, "ok (%v)\n", wall.Round(100*time.Millisecond))
		if verbose {
			os.Stderr.Write(out)
		}
	}

	var results []result
	bad := 0
	for _, m := range sel {
		fmt.Fprintf(os.Stderr, "mutant    %-32s ... ", m.Name)
		r := runMutant(scratch, m, timeout, race, verbose)
		fmt.Fprintf(os.Stderr, "%s %s (%v)\n", r.status, r.caughtBy, r.wall.Round(100*time.Millisecond))
		if r.status != "caught" {
			bad++
			if r.detail != "" {
				fmt.Fprintln(os.Stderr, r.detail)
			}
		}
		results = append(results, r)
	}
	printTable(os.Stdout, results)
	if bad > 0 {
		return fmt.Errorf("%d of %d mutants not caught", bad, len(results))
	}
	return nil
}

func selectMutants(only string) ([]mutant, error) {
	if only == "" {
		return mutants, nil
	}
	byName := map[string]mutant{}
	for _, m := range mutants {
		byName[m.Name] = m
	}
	var sel []mutant
	for _, name := range strings.Split(only, ",") {
		m, ok := byName[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("-only: no mutant named %q (see -list)", name)
		}
		sel = append(sel, m)
	}
	return sel, nil
}

func runMutant(scratch string, m mutant, timeout time.Duration, race, verbose bool) result {
	r := result{m: m}
	path := filepath.Join(scratch, m.File)
	orig, err := os.ReadFile(path)
	if err != nil {
		r.status, r.detail = "error", err.Error()
		return r
	}
	if n := bytes.Count(orig, []byte(m.Old)); n != 1 {
		r.status, r.detail = "error", fmt.Sprintf("%q occurs %d times in %s; want exactly 1", m.Old, n, m.File)
		return r
	}
	mutated := bytes.Replace(orig, []byte(m.Old), []byte(m.New), 1)
	if err := os.WriteFile(path, mutated, 0o644); err != nil {
		r.status, r.detail = "error", err.Error()
		return r
	}
	defer os.WriteFile(path, orig, 0o644)
	out, wall, err := goTest(scratch, m, timeout, race)
	r.wall = wall
	if verbose {
		os.Stderr.Write(out)
	}
	switch {
	case err == nil:
		r.status = "SURVIVED"
	case bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")):
		r.status, r.detail = "error", "the mutant does not build:\n"+tail(out, 20)
	default:
		r.status = "caught"
		r.caughtBy, r.testTime = failedTest(out)
	}
	return r
}

// goTest runs m's tests in dir.
func goTest(dir string, m mutant, timeout time.Duration, race bool) ([]byte, time.Duration, error) {
	args := []string{"test", "-count=1", "-vet=off", "-timeout", timeout.String(), "-run", "^(" + m.Tests + ")$"}
	if race {
		args = append(args, "-race")
	}
	args = append(args, m.Package)
	// The go command's own bound is the test's -timeout plus building.
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	return out, time.Since(start), err
}

var failLine = regexp.MustCompile(`(?m)^--- FAIL: (\S+) \(([0-9.]+)s\)`)

// failedTest names the first top-level test that failed and its time, or
// says the run timed out or panicked.
func failedTest(out []byte) (string, time.Duration) {
	if bytes.Contains(out, []byte("panic: test timed out")) {
		return "timeout (hang)", 0
	}
	if m := failLine.FindSubmatch(out); m != nil {
		d, _ := time.ParseDuration(string(m[2]) + "s")
		return string(m[1]), d
	}
	if bytes.Contains(out, []byte("panic:")) {
		return "panic", 0
	}
	return "go test failed", 0
}

func printTable(w io.Writer, rs []result) {
	fmt.Fprintln(w, "| mutant | file | result | caught by | test time | go test wall |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, r := range rs {
		tt := "-"
		if r.testTime > 0 {
			tt = r.testTime.Round(10 * time.Millisecond).String()
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.m.Name, r.m.File, r.status, orDash(r.caughtBy), tt, r.wall.Round(100*time.Millisecond))
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func tail(b []byte, lines int) string {
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run inside the module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// copyTree copies the working tree's tracked and untracked, not ignored,
// files from root to dst.
func copyTree(root, dst string) error {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, 0); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	for sc.Scan() {
		rel := sc.Text()
		src := filepath.Join(root, rel)
		fi, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		d := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(d), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(d, b, fi.Mode().Perm()); err != nil {
			return err
		}
	}
	return sc.Err()
}
