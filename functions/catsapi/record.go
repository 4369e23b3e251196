package catsapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cats-analytics/cats-analytics/domain/catrecord"
	"github.com/cats-analytics/cats-analytics/domain/catsinfo"
)

// Stored is a cat record as cats-info holds it and the API answers it: the
// project's one cat record (catrecord.Record, the type the stream carries and
// the aggregation decodes) and the table's bookkeeping. The item layout is
// domain/catsinfo's; the GET mapping templates of components/api read the
// same attributes.
//
// The record's other attributes carry its JSON names, so a column of the
// Glue table cats_info, an attribute of cats-info and a field of the API's
// answers are spelt the same. record_id is stored once, as id.
type Stored struct {
	catrecord.Record
	// Timestamp is when the API registered the record (the table's sort key);
	// it never changes, so an update keeps the item's key.
	Timestamp string `json:"timestamp"`
	UpdatedAt string `json:"updated_at"`
}

// MarshalJSON writes the record's JSON (catrecord's encoding) with timestamp
// and updated_at added. Without it the record's own MarshalJSON, promoted
// from the embedded catrecord.Record, would drop them.
func (s Stored) MarshalJSON() ([]byte, error) {
	record, err := json.Marshal(s.Record)
	if err != nil {
		return nil, err
	}
	extra, err := json.Marshal(struct {
		Timestamp string `json:"timestamp"`
		UpdatedAt string `json:"updated_at"`
	}{s.Timestamp, s.UpdatedAt})
	if err != nil {
		return nil, err
	}
	if !bytes.HasSuffix(record, []byte("}")) || !bytes.HasPrefix(extra, []byte("{")) {
		return nil, fmt.Errorf("record encodes as %s, not an object", record)
	}
	return append(append(record[:len(record)-1], ','), extra[1:]...), nil
}

// item is the DynamoDB item of a stored record.
func (s Stored) item() (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMapWithOptions(s.Record, jsonNames)
	if err != nil {
		return nil, fmt.Errorf("marshal record %s: %w", s.RecordID, err)
	}
	delete(item, catsinfo.AttrRecordID)
	item[catsinfo.AttrID] = &types.AttributeValueMemberS{Value: s.RecordID}
	item[catsinfo.AttrTimestamp] = &types.AttributeValueMemberS{Value: s.Timestamp}
	item[catsinfo.AttrUpdatedAt] = &types.AttributeValueMemberS{Value: s.UpdatedAt}
	return item, nil
}

// storedFromItem reads an item written by item.
func storedFromItem(item map[string]types.AttributeValue) (Stored, error) {
	var s Stored
	if err := attributevalue.UnmarshalMapWithOptions(item, &s.Record, func(o *attributevalue.DecoderOptions) { o.TagKey = "json" }); err != nil {
		return Stored{}, err
	}
	str := func(attr string) string {
		if v, ok := item[attr].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	s.RecordID, s.Timestamp, s.UpdatedAt = str(catsinfo.AttrID), str(catsinfo.AttrTimestamp), str(catsinfo.AttrUpdatedAt)
	s.EventTime = s.EventTime.UTC()
	if s.RecordID == "" || s.Timestamp == "" || s.UpdatedAt == "" {
		return Stored{}, fmt.Errorf("item lacks id, timestamp or updated_at")
	}
	return s, nil
}

// jsonNames makes the item's attribute names the record's JSON names, with
// the json tag's omitempty: an absent optional field is no attribute at all.
func jsonNames(o *attributevalue.EncoderOptions) { o.TagKey = "json" }

// decodeBody decodes a request body as a cat record, strictly, with
// catrecord's decoding: unknown fields, wrong types and trailing data are
// rejected naming the field.
func decodeBody(body string) (catrecord.Record, error) {
	if strings.TrimSpace(body) == "" {
		return catrecord.Record{}, &catrecord.FieldError{Field: "(record)", Reason: "is empty: send a JSON cat record"}
	}
	record, err := catrecord.Decode([]byte(body))
	if err != nil {
		return catrecord.Record{}, err
	}
	// The history fields of a revision are the API's to set.
	if record.Deleted {
		return catrecord.Record{}, &catrecord.FieldError{Field: "deleted", Reason: "is set by the API: DELETE /cats/{id} deletes a record"}
	}
	if record.Replaces != nil {
		return catrecord.Record{}, &catrecord.FieldError{Field: "replaces", Reason: "is set by the API: send the record as it should now be"}
	}
	return record, nil
}
