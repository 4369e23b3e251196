package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestREADMELayoutMatchesTheTree keeps the README's layout table true: every
// path it names exists, and every directory of Go code is listed or lies
// under a listed directory.
func TestREADMELayoutMatchesTheTree(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	section, found := strings.CutPrefix(string(raw)[strings.Index(string(raw), "## Layout"):], "## Layout")
	if !found {
		t.Fatal("README.md has no ## Layout section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var listed []string
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 {
			continue
		}
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cells[1], -1) {
			listed = append(listed, strings.TrimSuffix(m[1], "/"))
		}
	}
	if len(listed) == 0 {
		t.Fatal("the layout table lists no paths")
	}
	for _, p := range listed {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the layout table lists %s, which does not exist", p)
		}
	}
	covered := func(dir string) bool {
		for _, p := range listed {
			if dir == p || strings.HasPrefix(dir, p+"/") {
				return true
			}
		}
		return false
	}
	seen := map[string]bool{}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if d.IsDir() || !strings.HasSuffix(path, ".go") || dir == "." || seen[dir] {
			return nil
		}
		seen[dir] = true
		if !covered(dir) {
			t.Errorf("%s holds Go code but the README's layout table does not list it", dir)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
