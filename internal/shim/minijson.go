package shim

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonReader reads the little JSON the shim binary needs (shim.json, the runtime's log records). encoding/json
// would bring reflect and fmt into every shim, a few hundred KiB of text and heap per container; the daemon's
// side of the package still uses encoding/json.
type jsonReader struct {
	b []byte
	i int
}

var errJSON = errors.New("malformed JSON")

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (r *jsonReader) peek() byte {
	r.ws()
	if r.i < len(r.b) {
		return r.b[r.i]
	}
	return 0
}

func (r *jsonReader) literal(s string) bool {
	r.ws()
	if len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

// object reads an object, calling field for each key with the reader positioned at the value, which field must
// consume.
func (r *jsonReader) object(field func(key string) error) error {
	if !r.literal("{") {
		return errJSON
	}
	if r.literal("}") {
		return nil
	}
	for {
		key, err := r.str()
		if err != nil {
			return err
		}
		if !r.literal(":") {
			return errJSON
		}
		if err := field(key); err != nil {
			return err
		}
		if r.literal(",") {
			continue
		}
		if r.literal("}") {
			return nil
		}
		return errJSON
	}
}

// str reads a string (null reads as "").
func (r *jsonReader) str() (string, error) {
	if r.literal("null") {
		return "", nil
	}
	if !r.literal(`"`) {
		return "", errJSON
	}
	start := r.i
	for r.i < len(r.b) && r.b[r.i] != '"' && r.b[r.i] != '\\' {
		r.i++
	}
	if r.i < len(r.b) && r.b[r.i] == '"' { // no escapes: the common case
		r.i++
		return string(r.b[start : r.i-1]), nil
	}
	out := append([]byte(nil), r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		r.i++
		switch {
		case c == '"':
			return string(out), nil
		case c != '\\':
			out = append(out, c)
			continue
		}
		if r.i >= len(r.b) {
			break
		}
		c = r.b[r.i]
		r.i++
		switch c {
		case '"', '\\', '/':
			out = append(out, c)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			c1, ok := r.hex4()
			if !ok {
				return "", errJSON
			}
			rn := rune(c1)
			if utf16.IsSurrogate(rn) {
				rn = utf8.RuneError
				save := r.i
				if r.literalRaw(`\u`) {
					if c2, ok := r.hex4(); ok {
						rn = utf16.DecodeRune(rune(c1), rune(c2))
					}
				}
				if rn == utf8.RuneError {
					r.i = save
				}
			}
			out = utf8.AppendRune(out, rn)
		default:
			return "", errJSON
		}
	}
	return "", errJSON
}

func (r *jsonReader) literalRaw(s string) bool {
	if len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

func (r *jsonReader) hex4() (uint64, bool) {
	if len(r.b)-r.i < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(r.b[r.i:r.i+4]), 16, 32)
	r.i += 4
	return v, err == nil
}

// boolean reads true, false or null (false).
func (r *jsonReader) boolean() (bool, error) {
	switch {
	case r.literal("true"):
		return true, nil
	case r.literal("false"), r.literal("null"):
		return false, nil
	}
	return false, errJSON
}

// uint reads a non-negative integer of at most bits bits (null reads as 0).
func (r *jsonReader) uint(bits int) (uint64, error) {
	if r.literal("null") {
		return 0, nil
	}
	r.ws()
	start := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		r.i++
	}
	v, err := strconv.ParseUint(string(r.b[start:r.i]), 10, bits)
	if err != nil {
		return 0, errJSON
	}
	return v, nil
}

// strs reads an array of strings (null reads as nil).
func (r *jsonReader) strs() ([]string, error) {
	if r.literal("null") {
		return nil, nil
	}
	if !r.literal("[") {
		return nil, errJSON
	}
	out := []string{}
	if r.literal("]") {
		return out, nil
	}
	for {
		s, err := r.str()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		if r.literal(",") {
			continue
		}
		if r.literal("]") {
			return out, nil
		}
		return nil, errJSON
	}
}

// strMap reads an object of strings (null reads as nil).
func (r *jsonReader) strMap() (map[string]string, error) {
	if r.literal("null") {
		return nil, nil
	}
	m := map[string]string{}
	err := r.object(func(key string) error {
		v, err := r.str()
		m[key] = v
		return err
	})
	return m, err
}

// skip reads and discards any value.
func (r *jsonReader) skip() error {
	switch r.peek() {
	case '"':
		_, err := r.str()
		return err
	case '{':
		return r.object(func(string) error { return r.skip() })
	case '[':
		r.i++
		if r.literal("]") {
			return nil
		}
		for {
			if err := r.skip(); err != nil {
				return err
			}
			if r.literal(",") {
				continue
			}
			if r.literal("]") {
				return nil
			}
			return errJSON
		}
	case 't', 'f', 'n':
		if r.literal("true") || r.literal("false") || r.literal("null") {
			return nil
		}
		return errJSON
	}
	start := r.i
	for r.i < len(r.b) {
		c := r.b[r.i]
		if (c < '0' || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			break
		}
		r.i++
	}
	if r.i == start {
		return errJSON
	}
	return nil
}

// end reports whether only whitespace is left.
func (r *jsonReader) end() bool {
	r.ws()
	return r.i == len(r.b)
}

// decodeConfig parses shim.json as written by Spawn (encoding/json with Config's tags).
func decodeConfig(data []byte) (Config, error) {
	var c Config
	r := &jsonReader{b: data}
	err := r.object(func(key string) error {
		var err error
		var v uint64
		switch key {
		case "id":
			c.ID, err = r.str()
		case "bundle":
			c.Bundle, err = r.str()
		case "runtime":
			c.Runtime, err = r.str()
		case "runtime_args":
			c.RuntimeArgs, err = r.strs()
		case "runtime_root":
			c.RuntimeRoot, err = r.str()
		case "runtime_exe":
			c.RuntimeExe, err = r.str()
		case "runtime_fd":
			v, err = r.uint(31)
			c.RuntimeFD = int(v)
		case "log_path":
			c.LogPath, err = r.str()
		case "log_format":
			c.LogFormat, err = r.str()
		case "log_max_size":
			v, err = r.uint(63)
			c.LogMaxSize = int64(v)
		case "log_max_files":
			v, err = r.uint(31)
			c.LogMaxFiles = int(v)
		case "log_compress":
			c.LogCompress, err = r.boolean()
		case "log_attrs":
			c.LogAttrs, err = r.strMap()
		case "tty":
			c.Tty, err = r.boolean()
		case "stdin":
			c.Stdin, err = r.boolean()
		case "stdin_once":
			c.StdinOnce, err = r.boolean()
		case "console_width":
			v, err = r.uint(16)
			c.ConsoleWidth = uint16(v)
		case "console_height":
			v, err = r.uint(16)
			c.ConsoleHeight = uint16(v)
		case "hide_mounts":
			c.HideMounts, err = r.strs()
		case "run_detached":
			c.RunDetached, err = r.boolean()
		case "oom_file":
			c.OOMFile, err = r.str()
		default:
			err = r.skip()
		}
		if err != nil {
			return errors.New("field " + strconv.Quote(key) + ": " + err.Error())
		}
		return nil
	})
	if err == nil && !r.end() {
		err = errJSON
	}
	return c, err
}
