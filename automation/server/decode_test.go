package server

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/cats-analytics/cats-analytics/components/config"
	"github.com/cats-analytics/cats-analytics/domain/municipality"
)

func validateConfig(stack string, values map[string]string) error {
	_, err := config.Parse("", config.Project, stack, config.FromMap(values))
	return err
}

// decodeAndValidate is the path every registration takes before a job exists.
func decodeAndValidate(body string) (CreateMunicipalityRequest, error) {
	r := httptest.NewRequest("POST", "/v1/municipalities", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	req, err := decode[CreateMunicipalityRequest](httptest.NewRecorder(), r)
	if err != nil {
		return req, err
	}
	return req, req.Validate(validateConfig)
}

// FuzzCreateMunicipality: whatever the body, decoding and validation never
// panic; a refusal always names a field and a reason; an acceptance is a valid
// registration the program will accept. The fuzzed string is also tried as
// a config value of a valid registration: a value with a control character or
// longer than config.MaxValueBytes is refused naming config.<key>.
func FuzzCreateMunicipality(f *testing.F) {
	for _, seed := range []string{
		`{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev"}`,
		`{"code":"011002","name":"札幌市","prefecture":"北海道","environment":"prod","config":{"cats:instanceType":"t3.large"}}`,
		`{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev","config":{"cats:vpcCidr":"10.0.0.0/33"}}`,
		`{"code":"131017"}`, `{"code":131016}`, `[]`, `null`, `{}`, ``, `{"a":1}{}`, `{"config":{"cats:minInstances":"9","cats:maxInstances":"1"}}`,
		`{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev","config":{"cats:instanceType":"t3.large\u0000"}}`,
		"t3.large", "t3.large\x00", "t3.large\nruntime: python", "\x1b[31m", "t3.\u0085large", "\t", strings.Repeat("t", 1025),
		"10.0.0.0/16", "ops@example.jp",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, key := range []string{"cats:instanceType", "cats:alarmEmail", "cats:containerImage", "cats:quicksightPrincipal"} {
			asValue, err := json.Marshal(CreateMunicipalityRequest{Code: "131016", Name: "千代田区", Prefecture: "東京都",
				Environment: "dev", Config: map[string]string{key: body}})
			if err != nil {
				t.Fatal(err)
			}
			req, err := decodeAndValidate(string(asValue))
			if err != nil {
				var fe *fieldError
				if !errors.As(err, &fe) || !strings.HasPrefix(fe.field, "config") || fe.reason == "" {
					t.Fatalf("refusal of value %q for %s: %v does not name the config", body, key, err)
				}
				continue
			}
			checkAcceptedValue(t, key, req.Config[key])
		}
		req, err := decodeAndValidate(body)
		if err != nil {
			var fe *fieldError
			if !errors.As(err, &fe) || fe.field == "" || fe.reason == "" {
				t.Fatalf("refusal %v (%T) does not name a field and a reason", err, err)
			}
			return
		}
		if err := municipality.Validate(req.Code); err != nil {
			t.Fatalf("accepted code %q: %v", req.Code, err)
		}
		if req.Environment != config.Dev && req.Environment != config.Prod {
			t.Fatalf("accepted environment %q", req.Environment)
		}
		if unknown := config.UnknownKeys(req.Config); len(unknown) > 0 {
			t.Fatalf("accepted unknown keys %v", unknown)
		}
		if err := validateConfig(req.Code+"-"+req.Environment, req.Config); err != nil {
			t.Fatalf("accepted a config the program rejects: %v", err)
		}
		for k, v := range req.Config {
			checkAcceptedValue(t, k, v)
		}
	})
}

// checkAcceptedValue: an accepted value is one line of text the CLI can
// write into the stack's settings.
func checkAcceptedValue(t *testing.T, key, value string) {
	t.Helper()
	if len(value) > config.MaxValueBytes {
		t.Fatalf("accepted a %d-byte value for %s", len(value), key)
	}
	if !utf8.ValidString(value) {
		t.Fatalf("accepted a value for %s that is not UTF-8: %q", key, value)
	}
	for _, r := range value {
		if unicode.IsControl(r) {
			t.Fatalf("accepted a value for %s with the control character %U: %q", key, r, value)
		}
	}
}

func TestDecodeNamesTheField(t *testing.T) {
	tests := []struct{ body, field string }{
		{`{"code":1}`, "code"},
		{`{"config":{"cats:x":1}}`, "config"},
		{`{"":""}`, `""`},
		{`{"colour":"tabby"}`, "colour"},
		{`not json`, "body"},
	}
	for _, tt := range tests {
		_, err := decodeAndValidate(tt.body)
		var fe *fieldError
		if !errors.As(err, &fe) || fe.field != tt.field {
			t.Errorf("%s: error %v, want field %q", tt.body, err, tt.field)
		}
	}
}
