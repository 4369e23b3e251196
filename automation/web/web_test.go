package web

import (
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// scripts returns every script of the console by its path under assets/.
func scripts(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := fs.WalkDir(assets, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".js") {
			return err
		}
		b, err := assets.ReadFile(p)
		out[strings.TrimPrefix(p, "assets/")] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestScriptsWriteOnlyText: the scripts never hand a string to a DOM API
// that parses HTML or runs code, and never keep anything in web storage, so
// data from the API (a config value, an engine message) can only become
// text and a token can never sit in the browser. The CSP's Trusted Types
// enforce the first in the browser; this finds it before.
func TestScriptsWriteOnlyText(t *testing.T) {
	sinks := regexp.MustCompile(`\.(innerHTML|outerHTML)\b|insertAdjacentHTML|document\.write|\beval\(|new Function\b|setTimeout\(\s*['"\x60]|createContextualFragment|\.srcdoc\b|localStorage|sessionStorage|indexedDB`)
	for name, src := range scripts(t) {
		for i, line := range strings.Split(src, "\n") {
			if m := sinks.FindString(line); m != "" {
				t.Errorf("%s:%d uses %s: build nodes with dom.js (text only) instead", name, i+1, m)
			}
		}
	}
}

// TestScriptImportsResolve: every module a script imports is embedded, so
// no page breaks on a missing file.
func TestScriptImportsResolve(t *testing.T) {
	all := scripts(t)
	imports := regexp.MustCompile(`(?m)^import .* from '([^']+)';`)
	for name, src := range all {
		for _, m := range imports.FindAllStringSubmatch(src, -1) {
			target := path.Join(path.Dir(name), m[1])
			if _, ok := all[target]; !ok {
				t.Errorf("%s imports %s (%s), which is not embedded", name, m[1], target)
			}
		}
	}
	if _, ok := all["app.js"]; !ok || !strings.Contains(pageHTML, `src="/assets/app.js"`) {
		t.Error("the page must load assets/app.js")
	}
}

// dictionaryKeys reads the keys of one dictionary of i18n.js.
func dictionaryKeys(t *testing.T, src, name string) []string {
	t.Helper()
	start := strings.Index(src, "const "+name+" = {")
	if start < 0 {
		t.Fatalf("i18n.js has no dictionary %s", name)
	}
	body := src[start:]
	body = body[:strings.Index(body, "\n};")]
	var keys []string
	for _, m := range regexp.MustCompile(`(?m)^  '([^']+)':`).FindAllStringSubmatch(body, -1) {
		keys = append(keys, m[1])
	}
	slices.Sort(keys)
	return keys
}

// TestEveryMessageInBothLanguages: the Japanese and English dictionaries
// have the same keys, and every key the scripts ask for exists.
func TestEveryMessageInBothLanguages(t *testing.T) {
	all := scripts(t)
	ja, en := dictionaryKeys(t, all["i18n.js"], "ja"), dictionaryKeys(t, all["i18n.js"], "en")
	if len(ja) < 100 {
		t.Fatalf("read %d Japanese keys; the dictionary's layout changed", len(ja))
	}
	for _, k := range ja {
		if !slices.Contains(en, k) {
			t.Errorf("%s has no English message", k)
		}
	}
	for _, k := range en {
		if !slices.Contains(ja, k) {
			t.Errorf("%s has no Japanese message (the console is Japanese first)", k)
		}
	}
	used := regexp.MustCompile(`\bt\('([a-zA-Z0-9.\-]+)'`)
	for name, src := range all {
		for _, m := range used.FindAllStringSubmatch(src, -1) {
			if !slices.Contains(ja, m[1]) {
				t.Errorf("%s asks for message %s, which does not exist", name, m[1])
			}
		}
	}
}

// TestEveryAssetHasAType: the server sends each embedded file with its type
// (and nosniff), never as a guess.
func TestEveryAssetHasAType(t *testing.T) {
	c := New(nil)
	if len(c.etags) < 10 {
		t.Fatalf("%d assets embedded", len(c.etags))
	}
	for name := range c.etags {
		if contentTypes[path.Ext(name)] == "" {
			t.Errorf("asset %s has no content type", name)
		}
	}
}
