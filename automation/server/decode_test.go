package server

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

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
// registration the program will accept.
func FuzzCreateMunicipality(f *testing.F) {
	for _, seed := range []string{
		`{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev"}`,
		`{"code":"011002","name":"札幌市","prefecture":"北海道","environment":"prod","config":{"cats:instanceType":"t3.large"}}`,
		`{"code":"131016","name":"千代田区","prefecture":"東京都","environment":"dev","config":{"cats:vpcCidr":"10.0.0.0/33"}}`,
		`{"code":"131017"}`, `{"code":131016}`, `[]`, `null`, `{}`, ``, `{"a":1}{}`, `{"config":{"cats:minInstances":"9","cats:maxInstances":"1"}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
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
	})
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
