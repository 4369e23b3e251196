// Package municipality knows Japan's local government codes (全国地方公共団体コード):
// their check digit and the official list the project ships.
//
// 出典: 総務省『都道府県コード及び市区町村コード』（令和6年1月1日）
package municipality

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Attribution is the credit the data's terms (政府標準利用規約 第2.0版) require wherever it is shown.
const Attribution = "出典: 総務省『都道府県コード及び市区町村コード』（令和6年1月1日）"

//go:embed municipal_codes.csv
var codesCSV string

// Municipality is one row of the official list.
type Municipality struct {
	Code           string `json:"code"`
	Prefecture     string `json:"prefecture"`
	PrefectureKana string `json:"prefectureKana"`
	// Name is empty for a prefecture's own row.
	Name     string `json:"name"`
	NameKana string `json:"nameKana"`
}

// IsPrefecture reports whether the row is a prefecture rather than a municipality.
func (m Municipality) IsPrefecture() bool { return m.Name == "" }

var (
	loadOnce sync.Once
	byCode   map[string]Municipality
	ordered  []Municipality
	loadErr  error
)

func load() {
	rows, err := csv.NewReader(strings.NewReader(codesCSV)).ReadAll()
	if err != nil {
		loadErr = fmt.Errorf("read embedded municipal_codes.csv: %w", err)
		return
	}
	byCode = make(map[string]Municipality, len(rows))
	for i, row := range rows[1:] {
		if len(row) != 5 {
			loadErr = fmt.Errorf("municipal_codes.csv line %d: want 5 columns, got %d", i+2, len(row))
			return
		}
		m := Municipality{Code: row[0], Prefecture: row[1], PrefectureKana: row[2], Name: row[3], NameKana: row[4]}
		byCode[m.Code] = m
		ordered = append(ordered, m)
	}
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].Code < ordered[j].Code })
}

// Lookup returns the row for a code, prefecture or municipality.
func Lookup(code string) (Municipality, bool) {
	loadOnce.Do(load)
	m, ok := byCode[code]
	return m, ok
}

// All returns every municipality (prefecture rows excluded), ordered by code.
func All() []Municipality {
	loadOnce.Do(load)
	out := make([]Municipality, 0, len(ordered))
	for _, m := range ordered {
		if !m.IsPrefecture() {
			out = append(out, m)
		}
	}
	return out
}

// CheckDigit computes the sixth digit of a code from its first five:
// weights 6,5,4,3,2, r = sum mod 11, check = (11 − r) mod 10.
func CheckDigit(firstFive string) (byte, error) {
	if len(firstFive) != 5 {
		return 0, fmt.Errorf("want 5 digits, got %q", firstFive)
	}
	sum := 0
	for i := 0; i < 5; i++ {
		c := firstFive[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not all digits", firstFive)
		}
		sum += int(c-'0') * (6 - i)
	}
	return byte('0' + (11-sum%11)%10), nil
}

// Validate checks a municipality code: six digits, a correct check digit, and a
// municipality (not a prefecture) on the official list. The error says which of
// those failed and what a correct value looks like.
func Validate(code string) error {
	if len(code) != 6 {
		return fmt.Errorf("%q must be the 6-digit 全国地方公共団体コード with its check digit, e.g. 131016", code)
	}
	want, err := CheckDigit(code[:5])
	if err != nil || code[5] < '0' || code[5] > '9' {
		return fmt.Errorf("%q must be 6 digits, e.g. 131016", code)
	}
	if code[5] != want {
		return fmt.Errorf("%q has a wrong check digit: %s%c would be valid", code, code[:5], want)
	}
	loadOnce.Do(load)
	if loadErr != nil {
		return loadErr
	}
	m, ok := byCode[code]
	if !ok {
		return fmt.Errorf("%q is not on the 2024-01-01 list of municipalities (designated-city wards are not listed: use the city's code)", code)
	}
	if m.IsPrefecture() {
		return fmt.Errorf("%q is the prefecture %s, not a municipality", code, m.Prefecture)
	}
	return nil
}
