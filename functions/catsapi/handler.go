// Package catsapi is the write path of the cats-api REST API (seed §4 API
// Gateway: 統合先 Lambda): POST /cats, PUT /cats/{id} and DELETE /cats/{id}
// arrive through API Gateway's Lambda proxy integration, are validated as the
// project's cat record (catrecord.Record), written to cats-info and put on the
// Kinesis data stream that feeds Firehose and the real-time aggregation
// (DESIGN.md deviation 1). Reads (GET) never reach this function: API Gateway
// queries DynamoDB directly.
//
// What the stream carries is exactly catrecord's JSON encoding of the record,
// nothing more: the aggregation decodes it with catrecord.Parse, which refuses
// unknown fields, and Firehose converts it with the Glue table generated from
// the same type. Every change is streamed as a new revision of the record
// (catrecord.Record.Revision; cats-info keeps the current one):
//
//   - POST streams revision 1;
//   - PUT streams the next revision with Replaces, what the previous revision
//     counted, so the aggregation moves the count instead of adding one;
//   - DELETE streams a tombstone (Deleted) carrying the record's last content,
//     so the aggregation takes it back.
//
// The data lake keeps every revision: the Athena queries read the latest
// revision of each record and leave deleted records out. A PUT may name the
// revision it edits ("revision"): if the record has moved on, it answers 409.
package catsapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/cats-analytics/cats-analytics/domain/catrecord"
	"github.com/cats-analytics/cats-analytics/domain/catsinfo"
)

// Routes of the REST API, as API Gateway reports them in the request's Resource.
const (
	CollectionResource = "/cats"
	ItemResource       = "/cats/{id}"
)

// Table is the part of the DynamoDB API the write path uses.
type Table interface {
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// Stream is the part of the Kinesis API the write path uses.
type Stream interface {
	PutRecord(context.Context, *kinesis.PutRecordInput, ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error)
}

// Handler serves the write methods.
type Handler struct {
	DB         Table
	Stream     Stream
	TableName  string
	StreamName string
	// MunicipalityCode, when set, is the only municipality whose records this
	// stack's API accepts (a municipality stack serves one municipality).
	MunicipalityCode string
	Logger           *slog.Logger
	Now              func() time.Time // time.Now when nil
}

var idPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// errNotFound and errConflict are answered as 404 and 409.
var (
	errNotFound = errors.New("not found")
	errConflict = errors.New("conflict")
)

// unpublishedError is a change that could not be put on the stream and was undone.
type unpublishedError struct{ err error }

func (e *unpublishedError) Error() string { return "publish to the stream: " + e.err.Error() }
func (e *unpublishedError) Unwrap() error { return e.err }

// Handle answers one API Gateway proxy request. Errors become HTTP answers;
// the returned error is always nil so API Gateway never answers a bare 502.
func (h *Handler) Handle(ctx context.Context, req events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	log := h.logger().With("method", req.HTTPMethod, "resource", req.Resource, "requestId", req.RequestContext.RequestID)
	var (
		status int
		body   any
		err    error
	)
	if req.IsBase64Encoded {
		decoded, decodeErr := base64.StdEncoding.DecodeString(req.Body)
		if decodeErr != nil {
			return respond(http.StatusBadRequest, errorBody{Error: "invalid cat record", Field: "(record)", Reason: "is marked base64 but is not"}, nil), nil
		}
		req.Body = string(decoded)
	}
	switch {
	case req.Resource == CollectionResource && req.HTTPMethod == http.MethodPost:
		status, body, err = h.create(ctx, req.Body)
	case req.Resource == ItemResource && req.HTTPMethod == http.MethodPut:
		status, body, err = h.update(ctx, req.PathParameters["id"], req.Body)
	case req.Resource == ItemResource && req.HTTPMethod == http.MethodDelete:
		status, body, err = h.delete(ctx, req.PathParameters["id"])
	case req.Resource == CollectionResource || req.Resource == ItemResource:
		return respond(http.StatusMethodNotAllowed, errorBody{Error: req.HTTPMethod + " " + req.Resource + " is not served by the write path"}, nil), nil
	default:
		return respond(http.StatusNotFound, errorBody{Error: "no such resource " + req.Resource}, nil), nil
	}
	if err == nil {
		var headers map[string]string
		if s, ok := body.(Stored); ok && status == http.StatusCreated {
			headers = map[string]string{"Location": "/cats/" + s.RecordID}
		}
		return respond(status, body, headers), nil
	}
	var unpublished *unpublishedError
	switch problems := catrecord.FieldErrors(err); {
	case len(problems) > 0:
		// The first problem names the field; all of them are listed, so a
		// client fixes its record in one round trip.
		answer := errorBody{Error: "invalid cat record", Field: problems[0].Field, Reason: problems[0].Reason}
		for _, p := range problems {
			answer.Problems = append(answer.Problems, problem{Field: p.Field, Reason: p.Reason})
		}
		return respond(http.StatusBadRequest, answer, nil), nil
	case errors.Is(err, errNotFound):
		return respond(http.StatusNotFound, errorBody{Error: "cat " + req.PathParameters["id"] + " not found"}, nil), nil
	case errors.Is(err, errConflict):
		return respond(http.StatusConflict, errorBody{Error: "cat " + req.PathParameters["id"] + " changed meanwhile: read it again and retry"}, nil), nil
	case errors.As(err, &unpublished):
		log.Error("change undone: stream unavailable", "err", err)
		return respond(http.StatusServiceUnavailable, errorBody{Error: "the change could not be published and was not made: retry later"}, nil), nil
	default:
		log.Error("write failed", "err", err)
		return respond(http.StatusInternalServerError, errorBody{Error: "internal error"}, nil), nil
	}
}

type errorBody struct {
	Error    string    `json:"error"`
	Field    string    `json:"field,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Problems []problem `json:"problems,omitempty"`
}

type problem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func respond(status int, body any, headers map[string]string) events.APIGatewayProxyResponse {
	resp := events.APIGatewayProxyResponse{StatusCode: status, Headers: map[string]string{"Content-Type": "application/json"}}
	for k, v := range headers {
		resp.Headers[k] = v
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			b = []byte(`{"error":"internal error"}`)
			resp.StatusCode = http.StatusInternalServerError
		}
		resp.Body = string(b)
	}
	return resp
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

// create registers a new record under a new id.
func (h *Handler) create(ctx context.Context, body string) (int, any, error) {
	record, err := decodeBody(body)
	if err != nil {
		return 0, nil, err
	}
	if record.RecordID != "" {
		return 0, nil, &catrecord.FieldError{Field: "record_id", Reason: "is assigned by the API: omit it when creating a record"}
	}
	if record.Revision != 0 {
		return 0, nil, &catrecord.FieldError{Field: "revision", Reason: "is assigned by the API: omit it when creating a record"}
	}
	record.Revision = 1
	if record.RecordID, err = newID(); err != nil {
		return 0, nil, err
	}
	now := h.now()
	if err := h.validate(record, now); err != nil {
		return 0, nil, err
	}
	stored := Stored{Record: record, Timestamp: now.Format(catsinfo.TimeLayout), UpdatedAt: now.Format(catsinfo.TimeLayout)}
	if err := h.put(ctx, stored, expression{"attribute_not_exists(id)", nil}); err != nil {
		return 0, nil, fmt.Errorf("create %s: %w", stored.RecordID, err)
	}
	if err := h.publish(ctx, "create", stored.Record, func(ctx context.Context) error { return h.remove(ctx, stored) }); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, stored, nil
}

// update replaces a record's fields; its id and registration time stay.
func (h *Handler) update(ctx context.Context, id, body string) (int, any, error) {
	if err := checkID(id); err != nil {
		return 0, nil, err
	}
	record, err := decodeBody(body)
	if err != nil {
		return 0, nil, err
	}
	if record.RecordID != "" && record.RecordID != id {
		return 0, nil, &catrecord.FieldError{Field: "record_id", Reason: "must match the id in the path (or be omitted)"}
	}
	record.RecordID = id
	now := h.now()
	if err := h.validate(record, now); err != nil {
		return 0, nil, err
	}
	editing := record.Revision // the revision the client read, if it says
	previous, err := h.find(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	record.Revision = previous.Version() + 1
	if previous.MunicipalityCode != record.MunicipalityCode {
		return 0, nil, &catrecord.FieldError{Field: "municipality_code", Reason: fmt.Sprintf("must stay %s: a record cannot move to another municipality", previous.MunicipalityCode)}
	}
	if editing != 0 && editing != previous.Version() {
		return 0, nil, fmt.Errorf("update %s of revision %d, now at revision %d: %w", id, editing, previous.Version(), errConflict)
	}
	stored := Stored{Record: record, Timestamp: previous.Timestamp, UpdatedAt: now.Format(catsinfo.TimeLayout)}
	// Optimistic concurrency: the write applies only to the version just read.
	unchanged := expression{catsinfo.AttrUpdatedAt + " = :previous", map[string]types.AttributeValue{
		":previous": &types.AttributeValueMemberS{Value: previous.UpdatedAt},
	}}
	if err := h.put(ctx, stored, unchanged); err != nil {
		return 0, nil, fmt.Errorf("update %s: %w", id, err)
	}
	undo := func(ctx context.Context) error { return h.put(ctx, previous, expression{}) }
	change := stored.Record
	replaced := previous.Counted()
	change.Replaces = &replaced
	if err := h.publish(ctx, "update", change, undo); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, stored, nil
}

// delete removes a record from cats-info and streams its tombstone: the last
// content as the next revision, marked deleted, so the aggregation takes back
// what it counted and the data lake keeps the history of reports.
func (h *Handler) delete(ctx context.Context, id string) (int, any, error) {
	if err := checkID(id); err != nil {
		return 0, nil, err
	}
	previous, err := h.find(ctx, id)
	if err != nil {
		return 0, nil, err
	}
	if err := h.remove(ctx, previous); err != nil {
		return 0, nil, fmt.Errorf("delete %s: %w", id, err)
	}
	tombstone := previous.Record
	tombstone.Revision, tombstone.Deleted, tombstone.Replaces = previous.Version()+1, true, nil
	undo := func(ctx context.Context) error {
		return h.put(ctx, previous, expression{"attribute_not_exists(id)", nil})
	}
	if err := h.publish(ctx, "deletion", tombstone, undo); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// validate applies catrecord's rules (every problem, each naming its field)
// and, on a municipality stack, accepts only its own municipality's records.
func (h *Handler) validate(record catrecord.Record, now time.Time) error {
	if err := record.Validate(now); err != nil {
		return err
	}
	if h.MunicipalityCode != "" && record.MunicipalityCode != h.MunicipalityCode {
		return &catrecord.FieldError{Field: "municipality_code", Reason: fmt.Sprintf("must be %s: this API serves that municipality only", h.MunicipalityCode)}
	}
	return nil
}

func checkID(id string) error {
	if !idPattern.MatchString(id) {
		return &catrecord.FieldError{Field: "id", Reason: "must be a record id as returned by POST /cats (a lower-case UUID)"}
	}
	return nil
}

type expression struct {
	condition string
	values    map[string]types.AttributeValue
}

func (h *Handler) put(ctx context.Context, stored Stored, cond expression) error {
	item, err := stored.item()
	if err != nil {
		return err
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(h.TableName), Item: item}
	if cond.condition != "" {
		in.ConditionExpression = aws.String(cond.condition)
		in.ExpressionAttributeValues = cond.values
	}
	_, err = h.DB.PutItem(ctx, in)
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return errConflict
	}
	return err
}

func (h *Handler) remove(ctx context.Context, stored Stored) error {
	_, err := h.DB.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(h.TableName),
		Key: map[string]types.AttributeValue{
			catsinfo.AttrID:        &types.AttributeValueMemberS{Value: stored.RecordID},
			catsinfo.AttrTimestamp: &types.AttributeValueMemberS{Value: stored.Timestamp},
		},
		ConditionExpression:       aws.String(catsinfo.AttrUpdatedAt + " = :previous"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":previous": &types.AttributeValueMemberS{Value: stored.UpdatedAt}},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return errConflict
	}
	return err
}

// find reads a record: one item per id, whose sort key is its registration time.
func (h *Handler) find(ctx context.Context, id string) (Stored, error) {
	out, err := h.DB.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(h.TableName),
		KeyConditionExpression:    aws.String(catsinfo.AttrID + " = :id"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":id": &types.AttributeValueMemberS{Value: id}},
		ConsistentRead:            aws.Bool(true),
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(1),
	})
	if err != nil {
		return Stored{}, fmt.Errorf("read %s: %w", id, err)
	}
	if len(out.Items) == 0 {
		return Stored{}, errNotFound
	}
	stored, err := storedFromItem(out.Items[0])
	if err != nil {
		return Stored{}, fmt.Errorf("read %s: %w", id, err)
	}
	return stored, nil
}

// publish puts a revision on the stream as catrecord encodes it, with its
// partition key (catrecord.Record.PartitionKey: a retried put lands on the
// same shard, where the aggregation recognises the duplicate, and the
// revisions of a record stay in order). If the stream refuses it, the table
// write is undone so the table and the data lake never disagree, and the
// client is told to retry.
func (h *Handler) publish(ctx context.Context, change string, revision catrecord.Record, undo func(context.Context) error) error {
	data, err := json.Marshal(revision)
	if err != nil {
		return fmt.Errorf("marshal stream record: %w", err)
	}
	_, err = h.Stream.PutRecord(ctx, &kinesis.PutRecordInput{
		StreamName:   aws.String(h.StreamName),
		PartitionKey: aws.String(revision.PartitionKey()),
		Data:         data,
	})
	if err == nil {
		return nil
	}
	// The undo must run even if the request's context is what failed.
	undoCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if undoErr := undo(undoCtx); undoErr != nil {
		return fmt.Errorf("%s of %s reached the table but not the stream, and undoing it failed: %w", change, revision.RecordID, errors.Join(err, undoErr))
	}
	return &unpublishedError{err: err}
}

// newID returns a random (version 4) UUID.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
