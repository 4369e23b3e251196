package rules

import (
	"os"
	"strings"
	"testing"
)

// TestTheREADMETableIsTheCode: policy/README.md has one row per rule, with
// the rule's level and control ids as the code has them, so a municipality's
// security officer reads what is enforced.
func TestTheREADMETableIsTheCode(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) != 5 {
			t.Errorf("README row needs 5 cells (rule, level, controls, checks, cannot see): %q", line)
			continue
		}
		name := strings.Trim(cells[0], "`")
		if _, dup := rows[name]; dup {
			t.Errorf("README has two rows for %s", name)
		}
		rows[name] = cells
	}
	for _, r := range All() {
		cells, ok := rows[r.Name]
		if !ok {
			t.Errorf("policy/README.md has no row for %s", r.Name)
			continue
		}
		delete(rows, r.Name)
		if cells[1] != LevelName(r.Level) {
			t.Errorf("%s: README says %s, the code %s", r.Name, cells[1], LevelName(r.Level))
		}
		if cells[2] != r.Control {
			t.Errorf("%s: README says controls %q, the code %q", r.Name, cells[2], r.Control)
		}
		if cells[3] == "" || cells[4] == "" {
			t.Errorf("%s: say what it checks and what it cannot see (— when nothing)", r.Name)
		}
	}
	for name := range rows {
		t.Errorf("policy/README.md has a row for %s, which the pack does not have", name)
	}
}
