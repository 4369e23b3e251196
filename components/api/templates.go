package api

import (
	"fmt"
	"strings"

	"github.com/cats-analytics/cats-analytics/domain/catsinfo"
)

// The read path: API Gateway calls DynamoDB itself (seed §4 API Gateway:
// 統合先 DynamoDB), so a GET costs no Lambda invocation. The mapping templates
// below are API Gateway's Velocity (VTL) templates; they read and write the
// attributes of the cat record as the write path stores them (the item
// layout of domain/catsinfo: catrecord.Record's JSON names, id, revision,
// timestamp, updated_at).

// ListLimit is how many records one GET /cats answers; the answer's next
// holds the query parameters of the following page.
const ListLimit = 100

// esc escapes a value for a JSON string. escapeJavaScript also escapes single
// quotes, which JSON does not allow, so they are put back.
func esc(expr string) string {
	return fmt.Sprintf(`$util.escapeJavaScript(%s).replaceAll("\\'","'")`, expr)
}

// GetItemRequestTemplate is the DynamoDB Query of GET /cats/{id}: the one item
// whose partition key is the id (its sort key is the registration time).
func GetItemRequestTemplate(table string) string {
	return fmt.Sprintf(`{
  "TableName": %q,
  "KeyConditionExpression": "%s = :id",
  "ExpressionAttributeValues": {":id": {"S": "%s"}},
  "Limit": 1
}`, table, catsinfo.AttrID, esc("$input.params('id')"))
}

// ListRequestTemplate is the DynamoDB Scan of GET /cats, one page at a time
// (a stack serves one municipality, so its table holds only that one's records).
func ListRequestTemplate(table string) string {
	return fmt.Sprintf(`{
  "TableName": %q,
  "Limit": %d
#if($input.params('startId') != "" && $input.params('startTimestamp') != "")
  ,"ExclusiveStartKey": {"%s": {"S": "%s"}, "%s": {"S": "%s"}}
#end
}`, table, ListLimit, catsinfo.AttrID, esc("$input.params('startId')"), catsinfo.AttrTimestamp, esc("$input.params('startTimestamp')"))
}

// recordTemplate renders one DynamoDB item held in a VTL variable as the
// record's JSON: catrecord.Record's encoding (record_id is the item's id) with
// the table's timestamp and updated_at, as functions/catsapi.Stored answers a
// write. Optional attributes are absent from the item when absent from the
// record, and so from the answer.
func recordTemplate(v string) string {
	s := func(key, attr string) string { return fmt.Sprintf(`"%s": "%s",`, key, esc(v+"."+attr+".S")) }
	optionalS := func(attr string) string {
		return fmt.Sprintf(`#if(%[1]s.%[2]s)"%[2]s": "%[3]s",#end`, v, attr, esc(v+"."+attr+".S"))
	}
	return strings.Join([]string{
		"{",
		s(catsinfo.AttrRecordID, catsinfo.AttrID),
		s(catsinfo.AttrMunicipality, catsinfo.AttrMunicipality),
		s("event_time", "event_time"),
		s("event_type", "event_type"),
		s("district", "district"),
		fmt.Sprintf(`#if(%[1]s.latitude)"latitude": %[1]s.latitude.N, "longitude": %[1]s.longitude.N,#end`, v),
		s("reporter_role", "reporter_role"),
		fmt.Sprintf(`#if(%[1]s.cat_estimated_age_months)"cat_estimated_age_months": %[1]s.cat_estimated_age_months.N,#end`, v),
		s("cat_sex", "cat_sex"),
		optionalS("cat_colour_pattern"),
		fmt.Sprintf(`"cat_ear_tipped": %s.cat_ear_tipped.BOOL,`, v),
		optionalS("cat_microchip_id"),
		// Items written before revisions existed have none: revision 1.
		fmt.Sprintf(`"revision": #if(%[1]s.revision)%[1]s.revision.N#{else}1#end,`, v),
		s(catsinfo.AttrTimestamp, catsinfo.AttrTimestamp),
		fmt.Sprintf(`"%[1]s": "%[2]s"`, catsinfo.AttrUpdatedAt, esc(v+"."+catsinfo.AttrUpdatedAt+".S")),
		"}",
	}, "\n")
}

// GetItemResponseTemplate answers GET /cats/{id}: the record, or 404.
func GetItemResponseTemplate() string {
	return `#set($items = $input.path('$.Items'))
#if($items.size() == 0)
#set($context.responseOverride.status = 404)
{"error": "cat ` + esc("$input.params('id')") + ` not found"}
#else
#set($item = $items[0])
` + recordTemplate("$item") + `
#end`
}

// ListResponseTemplate answers GET /cats: {"cats": [...], "next": {...}}.
func ListResponseTemplate() string {
	return `#set($items = $input.path('$.Items'))
#set($last = $input.path('$.LastEvaluatedKey'))
{"cats": [
#foreach($item in $items)
` + recordTemplate("$item") + `#if($foreach.hasNext),#end
#end
]#if($last && $last.` + catsinfo.AttrID + `), "next": {"startId": "` + esc("$last."+catsinfo.AttrID+".S") +
		`", "startTimestamp": "` + esc("$last."+catsinfo.AttrTimestamp+".S") + `"}#end
}`
}

// accessLogFormat is the stage's access log line (JSON, one per request): who
// called (the IAM caller), what, and how it ended.
const accessLogFormat = `{"requestId":"$context.requestId","extendedRequestId":"$context.extendedRequestId",` +
	`"ip":"$context.identity.sourceIp","caller":"$context.identity.caller","user":"$context.identity.user",` +
	`"userArn":"$context.identity.userArn","requestTime":"$context.requestTime","httpMethod":"$context.httpMethod",` +
	`"resourcePath":"$context.resourcePath","path":"$context.path","status":"$context.status",` +
	`"protocol":"$context.protocol","responseLength":"$context.responseLength",` +
	`"integrationStatus":"$context.integration.status","integrationLatency":"$context.integration.latency",` +
	`"integrationError":"$context.integration.error","wafStatus":"$context.waf.status","xrayTraceId":"$context.xrayTraceId"}`
