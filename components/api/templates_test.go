package api_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cats-analytics/cats-analytics/components/api"
	"github.com/cats-analytics/cats-analytics/internal/localaws"
)

// renderJS renders API Gateway mapping templates with velocityjs and a
// stand-in for API Gateway's $input, $util and $context. $util.escapeJavaScript
// follows Apache Commons' StringEscapeUtils.escapeJavaScript, which API
// Gateway uses (it escapes ' as \', hence the templates' replaceAll), and
// replaceAll takes a Java regular expression.
const renderJS = `const { render } = require('velocityjs');
const javaString = (s) => ({
  toString: () => s,
  replaceAll: (re, rep) => javaString(s.replace(new RegExp(re, 'g'), () => rep)),
});
const escapeJavaScript = (v) => {
  let out = '';
  for (const ch of String(v)) {
    const c = ch.codePointAt(0);
    const u = (n) => '\\u' + n.toString(16).toUpperCase().padStart(4, '0');
    if (c > 0xffff) { const s = ch; out += u(s.charCodeAt(0)) + u(s.charCodeAt(1)); continue; }
    if (c > 0x7f) { out += u(c); continue; }
    switch (ch) {
      case "'": out += "\\'"; break;
      case '"': out += '\\"'; break;
      case '\\': out += '\\\\'; break;
      case '/': out += '\\/'; break;
      case '\b': out += '\\b'; break;
      case '\n': out += '\\n'; break;
      case '\t': out += '\\t'; break;
      case '\f': out += '\\f'; break;
      case '\r': out += '\\r'; break;
      default: out += c < 32 ? u(c) : ch;
    }
  }
  return javaString(out);
};
const jobs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const results = jobs.map((job) => {
  const context = { responseOverride: {} };
  const input = {
    path: (p) => p === '$' ? job.body : p.replace(/^\$\./, '').split('.').reduce((o, k) => (o == null ? undefined : o[k]), job.body),
    params: (name) => (job.params && job.params[name]) || '',
  };
  const output = render(job.template, { input, util: { escapeJavaScript }, context });
  return { output, status: context.responseOverride.status || 0 };
});
process.stdout.write(JSON.stringify(results));
`

type renderJob struct {
	Template string            `json:"template"`
	Body     any               `json:"body,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
}

type rendered struct {
	Output string `json:"output"`
	Status int    `json:"status"`
}

func renderTemplates(t *testing.T, jobs []renderJob) []rendered {
	t.Helper()
	dir, err := localaws.Install()
	if err != nil {
		t.Fatalf("velocityjs: %v", err)
	}
	script := filepath.Join(dir, "render-vtl.js")
	if err := os.WriteFile(script, []byte(renderJS), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", script)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("render templates: %v\n%s", err, stderr.String())
	}
	var results []rendered
	if err := json.Unmarshal(out, &results); err != nil || len(results) != len(jobs) {
		t.Fatalf("render templates answered %q: %v", out, err)
	}
	return results
}

// item is a cats-info item as the write path stores it (DynamoDB JSON; the
// layout is documented on functions/catsapi.Stored).
func item(id, colour string, withOptional bool) map[string]any {
	it := map[string]any{
		"id": map[string]string{"S": id}, "timestamp": map[string]string{"S": "2026-04-01T00:00:00.001Z"},
		"municipality_code": map[string]string{"S": "131016"}, "event_time": map[string]string{"S": "2026-03-31T09:30:00Z"},
		"event_type": map[string]string{"S": "sighting"}, "district": map[string]string{"S": "千代田一丁目"},
		"reporter_role": map[string]string{"S": "resident"}, "cat_sex": map[string]string{"S": "female"},
		"cat_ear_tipped": map[string]bool{"BOOL": true},
		"updated_at":     map[string]string{"S": "2026-04-01T00:00:00.001Z"},
	}
	if colour != "" {
		it["cat_colour_pattern"] = map[string]string{"S": colour}
	}
	if withOptional {
		it["revision"] = map[string]string{"N": "3"}
		it["latitude"] = map[string]string{"N": "35.694"}
		it["longitude"] = map[string]string{"N": "139.753"}
		it["cat_estimated_age_months"] = map[string]string{"N": "18"}
		it["cat_microchip_id"] = map[string]string{"S": "392141000012345"}
	}
	return it
}

func decode(t *testing.T, what string, r rendered) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(r.Output), &v); err != nil {
		t.Fatalf("%s renders invalid JSON: %v\n%s", what, err, r.Output)
	}
	return v
}

// TestMappingTemplatesRender runs the GET path's templates on DynamoDB's own
// answers and on hostile parameters: what API Gateway sends to DynamoDB and
// what the client receives must be valid JSON carrying exactly the record.
func TestMappingTemplatesRender(t *testing.T) {
	const id = "0f8fad5b-d9cb-469f-a165-70867728950e"
	hostile := `x", "TableName": "other'table\` + "\n"
	tricky := `三毛猫 "Tama" は 'よく' 来る \ </script>`
	results := renderTemplates(t, []renderJob{
		{Template: api.GetItemRequestTemplate("cats-info-dev"), Params: map[string]string{"id": hostile}},
		{Template: api.ListRequestTemplate("cats-info-dev")},
		{Template: api.ListRequestTemplate("cats-info-dev"), Params: map[string]string{"startId": id, "startTimestamp": "2026-04-01T00:00:00.001Z"}},
		{Template: api.GetItemResponseTemplate(), Body: map[string]any{"Count": 1, "Items": []any{item(id, tricky, true)}}, Params: map[string]string{"id": id}},
		{Template: api.GetItemResponseTemplate(), Body: map[string]any{"Count": 0, "Items": []any{}}, Params: map[string]string{"id": id}},
		{Template: api.ListResponseTemplate(), Body: map[string]any{"Count": 2, "Items": []any{item(id, "", false), item("1f8fad5b-d9cb-469f-a165-70867728950e", "黒", true)},
			"LastEvaluatedKey": map[string]any{"id": map[string]string{"S": "1f8fad5b-d9cb-469f-a165-70867728950e"}, "timestamp": map[string]string{"S": "2026-04-01T00:00:00.001Z"}}}},
		{Template: api.ListResponseTemplate(), Body: map[string]any{"Count": 0, "Items": []any{}}},
	})

	query := decode(t, "GET /cats/{id} request", results[0])
	if query["TableName"] != "cats-info-dev" || query["KeyConditionExpression"] != "id = :id" {
		t.Errorf("GET /cats/{id} request %v: a hostile id must not change the table or the key condition", query)
	}
	if got := query["ExpressionAttributeValues"].(map[string]any)[":id"].(map[string]any)["S"]; got != hostile {
		t.Errorf("the id reaches DynamoDB as %q, want it verbatim %q", got, hostile)
	}
	list := decode(t, "GET /cats request", results[1])
	if list["Limit"] != float64(api.ListLimit) || list["ExclusiveStartKey"] != nil {
		t.Errorf("first page request %v, want Limit %d and no start key", list, api.ListLimit)
	}
	next := decode(t, "GET /cats?startId request", results[2])
	wantKey := map[string]any{"id": map[string]any{"S": id}, "timestamp": map[string]any{"S": "2026-04-01T00:00:00.001Z"}}
	if !reflect.DeepEqual(next["ExclusiveStartKey"], wantKey) {
		t.Errorf("next page start key %v, want %v", next["ExclusiveStartKey"], wantKey)
	}

	record := decode(t, "GET /cats/{id} answer", results[3])
	want := map[string]any{
		"record_id": id, "municipality_code": "131016", "event_time": "2026-03-31T09:30:00Z", "event_type": "sighting",
		"district": "千代田一丁目", "latitude": 35.694, "longitude": 139.753, "reporter_role": "resident",
		"cat_estimated_age_months": float64(18), "cat_sex": "female", "cat_colour_pattern": tricky,
		"cat_ear_tipped": true, "cat_microchip_id": "392141000012345", "revision": float64(3),
		"timestamp": "2026-04-01T00:00:00.001Z", "updated_at": "2026-04-01T00:00:00.001Z",
	}
	if !reflect.DeepEqual(record, want) || results[3].Status != 0 {
		t.Errorf("GET /cats/{id} answer (status %d)\n got %v\nwant %v", results[3].Status, record, want)
	}
	missing := decode(t, "GET /cats/{id} not found", results[4])
	if results[4].Status != 404 || !strings.Contains(missing["error"].(string), id) {
		t.Errorf("a missing record answers %d %v, want 404 naming the id", results[4].Status, missing)
	}

	page := decode(t, "GET /cats answer", results[5])
	cats := page["cats"].([]any)
	if len(cats) != 2 || cats[1].(map[string]any)["cat_colour_pattern"] != "黒" || cats[0].(map[string]any)["latitude"] != nil || cats[0].(map[string]any)["cat_colour_pattern"] != nil {
		t.Errorf("GET /cats answer %v, want both records with their optional fields as stored", page)
	}
	if len(cats) == 2 && (cats[0].(map[string]any)["revision"] != float64(1) || cats[1].(map[string]any)["revision"] != float64(3)) {
		t.Errorf("GET /cats revisions %v and %v, want 1 for an item without one and 3 as stored", cats[0].(map[string]any)["revision"], cats[1].(map[string]any)["revision"])
	}
	if nextKey := page["next"].(map[string]any); nextKey["startId"] != "1f8fad5b-d9cb-469f-a165-70867728950e" || nextKey["startTimestamp"] != "2026-04-01T00:00:00.001Z" {
		t.Errorf("GET /cats next %v, want the query parameters of the following page", nextKey)
	}
	empty := decode(t, "GET /cats empty answer", results[6])
	if c, ok := empty["cats"].([]any); !ok || len(c) != 0 || empty["next"] != nil {
		t.Errorf("an empty table answers %v, want {\"cats\": []}", empty)
	}
}
