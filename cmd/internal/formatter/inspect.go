package formatter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/template"
)

// InspectGetter fetches one object by reference: its decoded value and its raw JSON (raw may be nil).
type InspectGetter func(ref string) (value any, raw []byte, err error)

// TemplateError is a --format that does not parse; commands exit with status 64 for it, as docker does.
type TemplateError struct{ Err error }

func (e *TemplateError) Error() string { return "template parsing error: " + e.Err.Error() }
func (e *TemplateError) Unwrap() error { return e.Err }

// Inspect prints refs the way `inspect` does: without a format, an indented JSON array (4 spaces) of the
// objects as the daemon sent them; with "json", a compact array; with a template, one line per object.
// Objects that fail to load are skipped and their errors returned together after the output.
func Inspect(out io.Writer, refs []string, format string, get InspectGetter) error {
	var tmpl *template.Template
	if format != "" && format != JSONFormatKey {
		t, err := Parse(format)
		if err != nil {
			return &TemplateError{Err: err}
		}
		tmpl = t
	}
	var (
		errs     []error
		values   []any
		raws     [][]byte
		rendered bytes.Buffer
	)
	for _, ref := range refs {
		v, raw, err := get(ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if tmpl == nil {
			if raw != nil {
				raws = append(raws, raw)
			} else {
				values = append(values, v)
			}
			continue
		}
		if err := executeInspect(&rendered, tmpl, v, raw); err != nil {
			errs = append(errs, err)
		}
	}

	if tmpl != nil {
		if rendered.Len() == 0 {
			rendered.WriteByte('\n')
		}
		if _, err := rendered.WriteTo(out); err != nil {
			return err
		}
		return errors.Join(errs...)
	}
	if err := writeInspectJSON(out, values, raws, format == JSONFormatKey); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// executeInspect renders one object; when the typed value lacks a field the template uses, it retries
// on the raw JSON so fields the client's types don't know still work.
func executeInspect(w *bytes.Buffer, tmpl *template.Template, v any, raw []byte) error {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, v); err != nil {
		if raw == nil {
			return &TemplateError{Err: err}
		}
		var generic any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&generic); err != nil {
			return fmt.Errorf("unable to read inspect data: %w", err)
		}
		buf.Reset()
		if err := tmpl.Option("missingkey=error").Execute(&buf, generic); err != nil {
			return &TemplateError{Err: err}
		}
	}
	w.Write(buf.Bytes())
	w.WriteByte('\n')
	return nil
}

func writeInspectJSON(out io.Writer, values []any, raws [][]byte, compact bool) error {
	if len(values) == 0 && len(raws) == 0 {
		_, err := io.WriteString(out, "[]\n")
		return err
	}
	var result bytes.Buffer
	if len(raws) > 0 {
		joined := append([]byte("["), bytes.Join(raws, []byte(","))...)
		joined = append(joined, ']')
		var err error
		if compact {
			err = json.Compact(&result, joined)
		} else {
			err = json.Indent(&result, joined, "", "    ")
		}
		if err != nil {
			return err
		}
	} else {
		var b []byte
		var err error
		if compact {
			b, err = json.Marshal(values)
		} else {
			b, err = json.MarshalIndent(values, "", "    ")
		}
		if err != nil {
			return err
		}
		result.Write(b)
	}
	result.WriteByte('\n')
	_, err := result.WriteTo(out)
	return err
}
