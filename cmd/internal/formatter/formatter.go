// Package formatter is the one place the CLI turns API objects into output. A command picks a Format
// ("table", "table {{.ID}}\t{{.Names}}", "json", or any Go template), wraps each object in a row type whose
// methods are the template's fields (.ID, .Names, ...), and calls Context.Write.
//
//	table ...   rows go through a tabwriter, preceded by a header line rendered from the row type's Header
//	json        one JSON object per row, built from the row's fields
//	otherwise   the template is executed once per row, each followed by a newline
package formatter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"text/tabwriter"
)

// Format keys understood by every listing command.
const (
	TableFormatKey = "table"
	JSONFormatKey  = "json"

	// DefaultQuietFormat is what -q prints.
	DefaultQuietFormat = "{{.ID}}"
	// JSONFormat is the template "json" stands for.
	JSONFormat = "{{json .}}"
)

// Format is a --format value.
type Format string

// IsTable reports whether the output has a header and aligned columns.
func (f Format) IsTable() bool { return strings.HasPrefix(string(f), TableFormatKey) }

// IsJSON reports whether f is the bare "json" format (one JSON object per row).
func (f Format) IsJSON() bool { return string(f) == JSONFormatKey }

// Contains reports whether the template mentions sub (e.g. "{{.Size}}", to request sizes).
func (f Format) Contains(sub string) bool { return strings.Contains(string(f), sub) }

// templateString strips the "table" prefix and unescapes \t and \n typed on a command line.
func (f Format) templateString() string {
	s := string(f)
	switch s {
	case TableFormatKey:
		return ""
	case JSONFormatKey:
		return JSONFormat
	}
	s = strings.TrimPrefix(s, TableFormatKey)
	s = strings.Trim(s, " ")
	return strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(s)
}

// Header maps a row's field names to column titles. `.Label "name"` in a table header renders the
// label's own name (its last dotted part, dashes and underscores as spaces).
type Header map[string]string

// Label is the header of a `.Label "name"` column.
func (Header) Label(name string) string {
	parts := strings.Split(name, ".")
	return strings.NewReplacer("-", " ", "_", " ").Replace(parts[len(parts)-1])
}

// Context holds where and how to write.
type Context struct {
	Output io.Writer
	Format Format
	// Trunc shortens IDs and long fields, as listings do unless --no-trunc.
	Trunc bool
}

// Write renders rows. header titles the table columns; rows are the row values (pointers to row types).
func (c Context) Write(header Header, rows []any) error {
	out := c.Output
	if out == nil {
		out = io.Discard
	}
	tmpl, err := Parse(c.Format.templateString())
	if err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	var buf bytes.Buffer
	for _, row := range rows {
		if err := tmpl.Execute(&buf, row); err != nil {
			return fmt.Errorf("template parsing error: %w", err)
		}
		buf.WriteByte('\n')
	}
	if !c.Format.IsTable() {
		_, err := buf.WriteTo(out)
		return err
	}
	tw := tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
	headerTmpl, err := Parse(c.Format.templateString())
	if err != nil {
		return err
	}
	if err := headerTmpl.Funcs(headerFuncs).Execute(tw, header); err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	_, _ = tw.Write([]byte{'\n'})
	_, _ = buf.WriteTo(tw)
	return tw.Flush()
}

// MarshalJSON encodes a row as an object of its fields: every exported method without arguments that
// returns one value.
func MarshalJSON(row any) ([]byte, error) {
	v := reflect.ValueOf(row)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		return nil, fmt.Errorf("formatter: expected a non-nil pointer, got %T", row)
	}
	t := v.Type()
	fields := make(map[string]any)
	for i := range t.NumMethod() {
		m := t.Method(i)
		if m.Name == "MarshalJSON" || m.Name == "FullHeader" {
			continue
		}
		// The method type includes the receiver as its first argument.
		if m.Type.NumIn() != 1 || m.Type.NumOut() != 1 {
			continue
		}
		fields[m.Name] = v.Method(i).Call(nil)[0].Interface()
	}
	return json.Marshal(fields)
}
