package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// linkRE matches a Markdown inline link or image: [text](target "title").
var linkRE = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)

// headingRE matches an ATX heading.
var headingRE = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)

// pages are the Markdown files whose links are checked, relative to the
// repository root.
func pages(t *testing.T) []string {
	t.Helper()
	ps := []string{"README.md"}
	more, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range more {
		ps = append(ps, filepath.ToSlash(strings.TrimPrefix(m, ".."+string(filepath.Separator))))
	}
	return ps
}

// root is the repository root, seen from this package's directory.
const root = ".."

// TestRelativeLinksResolve checks every relative link of README.md and
// docs/*.md: the file exists inside the repository, and an anchor names
// one of its headings.
func TestRelativeLinksResolve(t *testing.T) {
	ps := pages(t)
	if len(ps) < 4 {
		t.Fatalf("pages = %v; want README.md and at least docs/architecture.md, operations.md, contract.md", ps)
	}
	for _, want := range []string{"docs/architecture.md", "docs/operations.md", "docs/contract.md"} {
		if _, err := os.Stat(filepath.Join(root, want)); err != nil {
			t.Errorf("%s missing: %v", want, err)
		}
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, page := range ps {
		text, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(text), "../shared") {
			t.Errorf("%s mentions ../shared, which a clone of the repository does not have", page)
		}
		for _, target := range links(string(text)) {
			if isExternal(target) {
				continue
			}
			checked++
			file, anchor, _ := strings.Cut(target, "#")
			dest := page
			if file != "" {
				dest = filepath.ToSlash(filepath.Join(filepath.Dir(page), file))
			}
			abs, err := filepath.Abs(filepath.Join(root, dest))
			if err != nil {
				t.Fatal(err)
			}
			if rel, err := filepath.Rel(absRoot, abs); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s: link %q leaves the repository", page, target)
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s: link %q: %s does not exist", page, target, dest)
				continue
			}
			if anchor != "" && strings.HasSuffix(dest, ".md") {
				b, err := os.ReadFile(abs)
				if err != nil {
					t.Fatal(err)
				}
				if !anchors(string(b))[anchor] {
					t.Errorf("%s: link %q: %s has no heading with anchor #%s", page, target, dest, anchor)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative links found; the link pattern is broken")
	}
}

func isExternal(target string) bool {
	for _, p := range []string{"http://", "https://", "mailto:"} {
		if strings.HasPrefix(target, p) {
			return true
		}
	}
	return false
}

// links returns the link targets of a Markdown text, outside fenced code.
func links(text string) []string {
	var out []string
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for _, m := range linkRE.FindAllStringSubmatch(stripCode(line), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// stripCode removes inline code spans, whose brackets are not links.
func stripCode(line string) string {
	var b strings.Builder
	in := false
	for _, r := range line {
		if r == '`' {
			in = !in
			continue
		}
		if !in {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the GitHub-style anchors of a Markdown text's headings.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if m := headingRE.FindStringSubmatch(line); m != nil && !fenced {
			out[slug(m[1])] = true
		}
	}
	return out
}

// slug is GitHub's heading anchor: lower case, punctuation dropped, spaces
// as hyphens.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

func TestSlug(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Security: TLS and authentication", "security-tls-and-authentication"},
		{"The Maelstrom-style protocol: `master maelstrom`", "the-maelstrom-style-protocol-master-maelstrom"},
		{"master bench", "master-bench"},
	} {
		if got := slug(tc.in); got != tc.want {
			t.Errorf("slug(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestLinksFindsTargets(t *testing.T) {
	text := "see [a](docs/a.md) and ![img](x.svg \"t\") but not `[b](c.md)`\n```\n[d](e.md)\n```\n"
	got := strings.Join(links(text), ",")
	if want := "docs/a.md,x.svg"; got != want {
		t.Errorf("links = %q; want %q", got, want)
	}
}
