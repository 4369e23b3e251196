package municipality

import (
	"strings"
	"testing"
)

func TestCheckDigit(t *testing.T) {
	tests := []struct{ firstFive, want string }{
		{"13101", "6"}, // 千代田区
		{"01100", "2"}, // 札幌市
	}
	for _, tt := range tests {
		got, err := CheckDigit(tt.firstFive)
		if err != nil || string(got) != tt.want {
			t.Errorf("CheckDigit(%s) = %c, %v; want %s", tt.firstFive, got, err, tt.want)
		}
	}
	if _, err := CheckDigit("1310a"); err == nil {
		t.Error("CheckDigit accepted a non-digit")
	}
}

func TestEveryListedCodeHasAValidCheckDigit(t *testing.T) {
	all := All()
	// 1,747 municipalities are listed, including the six Northern Territories villages.
	if len(all) != 1747 {
		t.Fatalf("All() = %d municipalities, want 1747 (the 2024-01-01 list)", len(all))
	}
	for _, m := range all {
		if err := Validate(m.Code); err != nil {
			t.Errorf("listed municipality %s %s fails validation: %v", m.Code, m.Name, err)
		}
	}
	if m, ok := Lookup("131016"); !ok || m.Name != "千代田区" || m.Prefecture != "東京都" {
		t.Errorf("Lookup(131016) = %+v, %v; want 東京都 千代田区", m, ok)
	}
}

func TestValidateSaysWhatIsWrong(t *testing.T) {
	tests := []struct{ code, want string }{
		{"13101", "6-digit"},
		{"13101x", "must be 6 digits"},
		{"131017", "131016 would be valid"},
		{"130001", "is the prefecture 東京都"},
		{"999997", "not on the 2024-01-01 list"},
	}
	for _, tt := range tests {
		err := Validate(tt.code)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%q) = %v; want an error saying %q", tt.code, err, tt.want)
		}
	}
}

func TestAttributionShipsWithTheData(t *testing.T) {
	if !strings.Contains(Attribution, "総務省") || !strings.Contains(Attribution, "令和6年1月1日") {
		t.Errorf("Attribution %q must credit 総務省 and the list's date (政府標準利用規約)", Attribution)
	}
}
