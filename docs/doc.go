// Package docs holds the user documentation (Markdown) of the repository.
// It has no code: its test checks that every relative link in README.md
// and docs/*.md resolves to a file of the repository (and, with an anchor,
// to a heading of that file), so a clone stands alone.
package docs
