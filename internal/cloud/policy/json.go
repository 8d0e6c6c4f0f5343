package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// jsonKind is the type of a decoded JSON value.
type jsonKind int

const (
	jNull jsonKind = iota
	jString
	jNumber
	jBool
	jArray
	jObject
)

// jsonValue is a JSON value decoded without losing what encoding/json's maps would: the order of an object's
// members, duplicate member names (the policy grammar forbids them), and a number's literal text.
type jsonValue struct {
	kind    jsonKind
	str     string // string contents, a number's literal, or "true"/"false"
	items   []jsonValue
	members []jsonMember
}

type jsonMember struct {
	name  string
	value jsonValue
}

// member returns the object member called name.
func (v jsonValue) member(name string) (jsonValue, bool) {
	for _, m := range v.members {
		if m.name == name {
			return m.value, true
		}
	}
	return jsonValue{}, false
}

// maxJSONDepth bounds nesting: a policy is at most four levels deep (Statement, Condition, operator, values), so
// anything much deeper is not a policy and must not exhaust the stack.
const maxJSONDepth = 32

var (
	errJSONSyntax    = errors.New("invalid JSON")
	errJSONDuplicate = errors.New("duplicate member name")
)

// decodeJSON decodes exactly one JSON value from doc; trailing content other than white space is an error.
func decodeJSON(doc []byte) (jsonValue, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return jsonValue{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return jsonValue{}, errJSONSyntax
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (jsonValue, error) {
	if depth > maxJSONDepth {
		return jsonValue{}, errJSONSyntax
	}
	tok, err := dec.Token()
	if err != nil {
		return jsonValue{}, errJSONSyntax
	}
	switch t := tok.(type) {
	case nil:
		return jsonValue{kind: jNull}, nil
	case string:
		return jsonValue{kind: jString, str: t}, nil
	case json.Number:
		return jsonValue{kind: jNumber, str: t.String()}, nil
	case bool:
		if t {
			return jsonValue{kind: jBool, str: "true"}, nil
		}
		return jsonValue{kind: jBool, str: "false"}, nil
	case json.Delim:
		switch t {
		case '[':
			v := jsonValue{kind: jArray, items: []jsonValue{}}
			for dec.More() {
				item, err := decodeValue(dec, depth+1)
				if err != nil {
					return jsonValue{}, err
				}
				v.items = append(v.items, item)
			}
			if end, err := dec.Token(); err != nil || end != json.Delim(']') {
				return jsonValue{}, errJSONSyntax
			}
			return v, nil
		case '{':
			v := jsonValue{kind: jObject, members: []jsonMember{}}
			seen := map[string]struct{}{}
			for dec.More() {
				nameTok, err := dec.Token()
				if err != nil {
					return jsonValue{}, errJSONSyntax
				}
				name, ok := nameTok.(string)
				if !ok {
					return jsonValue{}, errJSONSyntax
				}
				if _, dup := seen[name]; dup {
					return jsonValue{}, errJSONDuplicate
				}
				seen[name] = struct{}{}
				value, err := decodeValue(dec, depth+1)
				if err != nil {
					return jsonValue{}, err
				}
				v.members = append(v.members, jsonMember{name: name, value: value})
			}
			if end, err := dec.Token(); err != nil || end != json.Delim('}') {
				return jsonValue{}, errJSONSyntax
			}
			return v, nil
		}
	}
	return jsonValue{}, errJSONSyntax
}
