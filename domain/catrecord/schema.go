package catrecord

import (
	"fmt"
	"reflect"
	"strings"
)

// Column is one column of the Glue table cats_info.
type Column struct {
	Name string // the record's JSON name
	Type string // Hive type, as Glue and Athena spell it
}

// Partition keys of cats_info, in path order: Firehose writes
// raw/municipality=<code>/dt=<yyyy-mm-dd>/ from the record's own fields.
var PartitionKeys = []Column{
	{Name: "municipality", Type: "string"},
	{Name: "dt", Type: "string"},
}

// Columns returns the Glue columns of the record, in field order, derived
// from the struct's json and glue tags: the Glue table is generated from this,
// so the schema Firehose converts with is the type the producers encode.
func Columns() []Column {
	t := reflect.TypeOf(Record{})
	cols := make([]Column, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		glueType := f.Tag.Get("glue")
		if name == "" || name == "-" || glueType == "" {
			// A field without both tags would silently vanish from Athena.
			panic(fmt.Sprintf("catrecord.Record.%s needs json and glue tags", f.Name))
		}
		if glueType == "struct" {
			glueType = structType(f.Type)
		}
		cols = append(cols, Column{Name: name, Type: glueType})
	}
	return cols
}

// structType is the Hive struct<name:type,...> of a (pointer to a) struct
// whose fields carry json and glue tags.
func structType(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	fields := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		glueType := f.Tag.Get("glue")
		if name == "" || name == "-" || glueType == "" || glueType == "struct" {
			panic(fmt.Sprintf("catrecord.%s.%s needs json and glue tags of a scalar type", t.Name(), f.Name))
		}
		fields = append(fields, name+":"+glueType)
	}
	return "struct<" + strings.Join(fields, ",") + ">"
}
