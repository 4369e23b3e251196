// Package apitest checks the automation server's exchanges against its
// OpenAPI document (automation/server/openapi.yaml) with kin-openapi, so the
// handler tests and the end-to-end tests hold every answer to the schemas
// clients are given.
package apitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

func init() {
	plain := func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(body)
		return string(b), err
	}
	openapi3filter.RegisterBodyDecoder("text/event-stream", plain)
	openapi3filter.RegisterBodyDecoder("application/yaml", plain)
}

// Checker validates exchanges against the OpenAPI document.
type Checker struct {
	doc    *openapi3.T
	router routers.Router
}

// NewChecker loads an OpenAPI document (server.OpenAPI()), failing the test
// if it is not a valid one.
func NewChecker(t testing.TB, spec []byte) *Checker {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(spec)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	doc.Servers = nil // match any host
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatalf("route openapi.yaml: %v", err)
	}
	return &Checker{doc: doc, router: router}
}

// Exchange is one request and its answer.
type Exchange struct {
	Method, Path string
	Body         []byte
	Header       http.Header // the request's
	Status       int
	RespHeader   http.Header
	RespBody     []byte
}

// Check reports (t.Errorf) where an exchange departs from the document: the
// route and method must exist, a request that was accepted must be valid, the
// status and the answer must be documented, and an event stream's events must
// match their schemas.
func (c *Checker) Check(t testing.TB, x Exchange) {
	t.Helper()
	req, err := http.NewRequest(x.Method, "http://server"+x.Path, bytes.NewReader(x.Body))
	if err != nil {
		t.Fatalf("build %s %s: %v", x.Method, x.Path, err)
	}
	req.Header = x.Header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Errorf("%s %s is not in openapi.yaml: %v", x.Method, x.Path, err)
		return
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if x.Status < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s: the request was accepted but does not match openapi.yaml: %v", x.Method, x.Path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.Status, Header: x.RespHeader, Options: opts}
	out.SetBodyBytes(x.RespBody)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s → %d does not match openapi.yaml: %v\n%s", x.Method, x.Path, x.Status, err, x.RespBody)
	}
	if strings.HasPrefix(x.RespHeader.Get("Content-Type"), "text/event-stream") {
		c.checkEvents(t, x)
	}
}

// eventSchemas maps an event stream's event types to their schemas.
var eventSchemas = map[string]string{"plan": "PlanEvent", "engine": "EngineEvent", "step": "OperationStep", "done": "Job"}

func (c *Checker) checkEvents(t testing.TB, x Exchange) {
	t.Helper()
	events, err := ParseEvents(x.RespBody)
	if err != nil {
		t.Errorf("%s %s: %v", x.Method, x.Path, err)
		return
	}
	for _, e := range events {
		name, ok := eventSchemas[e.Type]
		if !ok {
			t.Errorf("%s %s: event type %q is not documented in openapi.yaml", x.Method, x.Path, e.Type)
			continue
		}
		if err := c.Validate(name, e.Data); err != nil {
			t.Errorf("%s %s: %s event %s does not match %s: %v", x.Method, x.Path, e.Type, e.Data, name, err)
		}
	}
}

// Validate checks a JSON document against a schema of the document's components.
func (c *Checker) Validate(schema string, doc []byte) error {
	ref, ok := c.doc.Components.Schemas[schema]
	if !ok {
		return fmt.Errorf("no schema %s in openapi.yaml", schema)
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return ref.Value.VisitJSON(v, openapi3.MultiErrors())
}

// Event is one Server-Sent Event.
type Event struct {
	ID   string
	Type string
	Data []byte
}

// ParseEvents splits an event stream into its events (comments skipped).
func ParseEvents(stream []byte) ([]Event, error) {
	var events []Event
	var e Event
	sc := bufio.NewScanner(bytes.NewReader(stream))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if e.Type != "" || e.Data != nil {
				events = append(events, e)
			}
			e = Event{}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "id: "):
			e.ID = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			e.Type = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			e.Data = []byte(strings.TrimPrefix(line, "data: "))
		default:
			return events, fmt.Errorf("event stream line %q is not an id, event, data or comment", line)
		}
	}
	if e.Type != "" || e.Data != nil {
		events = append(events, e)
	}
	return events, sc.Err()
}
