package command

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/berth/berth/client"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/mount"
)

// ListOpts is a repeatable string flag ("list" in help), optionally validating each value.
type ListOpts struct {
	values   []string
	validate func(string) (string, error)
}

// NewListOpts returns an empty list flag; validate (may be nil) checks and rewrites each value.
func NewListOpts(validate func(string) (string, error)) *ListOpts {
	return &ListOpts{validate: validate}
}

func (l *ListOpts) Set(v string) error {
	if l.validate != nil {
		var err error
		if v, err = l.validate(v); err != nil {
			return err
		}
	}
	l.values = append(l.values, v)
	return nil
}

func (l *ListOpts) String() string {
	if len(l.values) == 0 {
		return ""
	}
	return fmt.Sprintf("%v", l.values)
}

func (*ListOpts) Type() string { return "list" }

// Values returns the values in the order given.
func (l *ListOpts) Values() []string { return l.values }

// mapOpts is a repeatable key=value flag ("map" in help).
type mapOpts struct {
	values map[string]string
}

func newMapOpts() *mapOpts { return &mapOpts{values: map[string]string{}} }

func (m *mapOpts) Set(v string) error {
	k, val, _ := strings.Cut(v, "=")
	if k == "" {
		return fmt.Errorf("invalid key-value pair: %q", v)
	}
	m.values[k] = val
	return nil
}

func (m *mapOpts) String() string { return fmt.Sprintf("%v", m.values) }

func (*mapOpts) Type() string { return "map" }

// memBytes is a size flag ("bytes"): 512m, 1g, 1024.
type memBytes int64

func (m *memBytes) Set(v string) error {
	n, err := units.RAMInBytes(v)
	*m = memBytes(n)
	return err
}

func (m *memBytes) String() string {
	if *m == 0 {
		return "0"
	}
	return units.BytesSize(float64(*m))
}

func (*memBytes) Type() string { return "bytes" }

// memSwapBytes is --memory-swap: a size or -1 for unlimited.
type memSwapBytes memBytes

func (m *memSwapBytes) Set(v string) error {
	if v == "-1" {
		*m = -1
		return nil
	}
	return (*memBytes)(m).Set(v)
}

func (m *memSwapBytes) String() string { return (*memBytes)(m).String() }

func (*memSwapBytes) Type() string { return "bytes" }

// nanoCPUs is --cpus: a decimal number of CPUs, stored in billionths.
type nanoCPUs int64

func (n *nanoCPUs) Set(v string) error {
	cpus, ok := new(big.Rat).SetString(v)
	if !ok {
		return fmt.Errorf("failed to parse %v as a rational number", v)
	}
	nano := cpus.Mul(cpus, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return fmt.Errorf("value is too precise")
	}
	*n = nanoCPUs(nano.Num().Int64())
	return nil
}

func (n *nanoCPUs) String() string {
	if *n == 0 {
		return "0"
	}
	return big.NewRat(int64(*n), 1e9).FloatString(3)
}

func (*nanoCPUs) Type() string { return "decimal" }

// ulimitOpts is --ulimit name=soft[:hard].
type ulimitOpts struct {
	values map[string]*units.Ulimit
}

func (u *ulimitOpts) Set(v string) error {
	l, err := units.ParseUlimit(v)
	if err != nil {
		return err
	}
	if u.values == nil {
		u.values = map[string]*units.Ulimit{}
	}
	u.values[l.Name] = l
	return nil
}

func (u *ulimitOpts) String() string {
	var out []string
	for _, l := range u.list() {
		out = append(out, l.String())
	}
	return fmt.Sprintf("%v", out)
}

func (*ulimitOpts) Type() string { return "ulimit" }

func (u *ulimitOpts) list() []*units.Ulimit {
	var out []*units.Ulimit
	for _, l := range u.values {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// filterOpt is --filter key=value, repeatable.
type filterOpt struct {
	filters client.Filters
}

func newFilterOpt() *filterOpt { return &filterOpt{filters: client.Filters{}} }

func (f *filterOpt) Set(v string) error {
	if err := f.filters.ParseFilter(v); err != nil {
		return err
	}
	return nil
}

func (f *filterOpt) String() string {
	if len(f.filters) == 0 {
		return ""
	}
	return f.filters.String()
}

func (*filterOpt) Type() string { return "filter" }

// Value returns the filters set so far.
func (f *filterOpt) Value() client.Filters { return f.filters }

// mountOpts is --mount type=...,source=...,target=...,...
type mountOpts struct {
	values []mount.Mount
}

func (m *mountOpts) Set(value string) error {
	value = strings.TrimSpace(value)
	if value == "" {
		return errors.New("value is empty")
	}
	fields, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return err
	}
	mnt := mount.Mount{Type: mount.TypeVolume}
	bindOpts := func() *mount.BindOptions {
		if mnt.BindOptions == nil {
			mnt.BindOptions = &mount.BindOptions{}
		}
		return mnt.BindOptions
	}
	volumeOpts := func() *mount.VolumeOptions {
		if mnt.VolumeOptions == nil {
			mnt.VolumeOptions = &mount.VolumeOptions{}
		}
		return mnt.VolumeOptions
	}
	tmpfsOpts := func() *mount.TmpfsOptions {
		if mnt.TmpfsOptions == nil {
			mnt.TmpfsOptions = &mount.TmpfsOptions{}
		}
		return mnt.TmpfsOptions
	}
	for _, field := range fields {
		key, val, hasValue := strings.Cut(field, "=")
		if k := strings.TrimSpace(key); k != key {
			return fmt.Errorf("invalid option '%s' in '%s': option should not have whitespace", k, field)
		}
		if hasValue {
			v := strings.TrimSpace(val)
			if v == "" {
				return fmt.Errorf("invalid value for '%s': value is empty", key)
			}
			if v != val {
				return fmt.Errorf("invalid value for '%s' in '%s': value should not have whitespace", key, field)
			}
		}
		key = strings.ToLower(key)
		if !hasValue {
			switch key {
			case "readonly", "ro", "volume-nocopy", "bind-create-src":
			default:
				return fmt.Errorf("invalid field '%s' must be a key=value pair", field)
			}
		}
		switch key {
		case "type":
			mnt.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			mnt.Source = val
			if !filepath.IsAbs(val) && strings.HasPrefix(val, ".") {
				if abs, err := filepath.Abs(val); err == nil {
					mnt.Source = abs
				}
			}
		case "target", "dst", "destination":
			mnt.Target = val
		case "readonly", "ro":
			if mnt.ReadOnly, err = parseBoolField(key, val, hasValue); err != nil {
				return err
			}
		case "consistency":
			mnt.Consistency = mount.Consistency(strings.ToLower(val))
		case "bind-propagation":
			bindOpts().Propagation = mount.Propagation(strings.ToLower(val))
		case "bind-recursive":
			switch val {
			case "enabled":
			case "disabled":
				bindOpts().NonRecursive = true
			case "writable":
				bindOpts().ReadOnlyNonRecursive = true
			case "readonly":
				bindOpts().ReadOnlyForceRecursive = true
			default:
				return fmt.Errorf(`invalid value for %s: %s (must be "enabled", "disabled", "writable", or "readonly")`, key, val)
			}
		case "bind-create-src":
			if bindOpts().CreateMountpoint, err = parseBoolField(key, val, hasValue); err != nil {
				return err
			}
		case "volume-subpath":
			volumeOpts().Subpath = val
		case "volume-nocopy":
			if volumeOpts().NoCopy, err = parseBoolField(key, val, hasValue); err != nil {
				return err
			}
		case "volume-label":
			vo := volumeOpts()
			if vo.Labels == nil {
				vo.Labels = map[string]string{}
			}
			k, v, _ := strings.Cut(val, "=")
			vo.Labels[k] = v
		case "volume-driver":
			vo := volumeOpts()
			if vo.DriverConfig == nil {
				vo.DriverConfig = &mount.Driver{}
			}
			vo.DriverConfig.Name = val
		case "volume-opt":
			vo := volumeOpts()
			if vo.DriverConfig == nil {
				vo.DriverConfig = &mount.Driver{}
			}
			if vo.DriverConfig.Options == nil {
				vo.DriverConfig.Options = map[string]string{}
			}
			k, v, _ := strings.Cut(val, "=")
			vo.DriverConfig.Options[k] = v
		case "tmpfs-size":
			size, err := units.RAMInBytes(val)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOpts().SizeBytes = size
		case "tmpfs-mode":
			mode, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return fmt.Errorf("invalid value for %s: %s", key, val)
			}
			tmpfsOpts().Mode = os.FileMode(mode)
		default:
			return fmt.Errorf("unknown option '%s' in '%s'", key, field)
		}
	}
	if mnt.Target == "" {
		return errors.New("target is required")
	}
	if mnt.BindOptions != nil && mnt.Type != mount.TypeBind {
		return fmt.Errorf("cannot mix 'bind-*' options with mount type '%s'", mnt.Type)
	}
	if mnt.VolumeOptions != nil && mnt.Type != mount.TypeVolume {
		return fmt.Errorf("cannot mix 'volume-*' options with mount type '%s'", mnt.Type)
	}
	if mnt.TmpfsOptions != nil && mnt.Type != mount.TypeTmpfs {
		return fmt.Errorf("cannot mix 'tmpfs-*' options with mount type '%s'", mnt.Type)
	}
	if mnt.Type == mount.TypeBind && mnt.Source == "" {
		return errors.New("source is required when specifying bind mount")
	}
	m.values = append(m.values, mnt)
	return nil
}

func parseBoolField(key, val string, hasValue bool) (bool, error) {
	if !hasValue {
		return true, nil
	}
	switch strings.ToLower(val) {
	case "1", "true":
		return true, nil
	case "0", "false":
		return false, nil
	default:
		return false, fmt.Errorf(`invalid value for '%s': invalid boolean value (%q): must be one of "true", "1", "false", or "0" (default "true")`, key, val)
	}
}

func (m *mountOpts) String() string {
	var parts []string
	for _, v := range m.values {
		parts = append(parts, fmt.Sprintf("%s %s %s", v.Type, v.Source, v.Target))
	}
	return strings.Join(parts, ", ")
}

func (*mountOpts) Type() string { return "mount" }

// ValidateEnv completes "NAME" from the local environment, as docker's -e does.
func ValidateEnv(val string) (string, error) {
	k, _, hasValue := strings.Cut(val, "=")
	if k == "" {
		return "", errors.New("invalid environment variable: " + val)
	}
	if hasValue {
		return val, nil
	}
	if v, ok := os.LookupEnv(k); ok {
		return k + "=" + v, nil
	}
	return val, nil
}

// readKVFile reads an --env-file or --label-file: KEY=VALUE lines, '#' comments; a bare KEY is taken
// from lookup (the environment for env files) or dropped.
func readKVFile(name string, lookup func(string) (string, bool)) ([]string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var out []string
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; scanner.Scan(); n++ {
		b := scanner.Bytes()
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("invalid env file (%s): invalid utf8 bytes at line %d: %v", name, n, b)
		}
		if n == 1 {
			b = bytes.TrimPrefix(b, []byte{0xEF, 0xBB, 0xBF})
		}
		line := strings.TrimLeftFunc(string(b), unicode.IsSpace)
		if line == "" || line[0] == '#' {
			continue
		}
		key, _, hasValue := strings.Cut(line, "=")
		if key == "" {
			return nil, fmt.Errorf("invalid env file (%s): no variable name on line '%s'", name, line)
		}
		if strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("invalid env file (%s): variable '%s' contains whitespaces", name, key)
		}
		if hasValue {
			out = append(out, line)
			continue
		}
		if lookup != nil {
			if v, ok := lookup(line); ok {
				out = append(out, key+"="+v)
			}
		}
	}
	return out, scanner.Err()
}

// readKVStrings merges files (read first) and explicit values (which win).
func readKVStrings(files, values []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, f := range files {
		vars, err := readKVFile(f, lookup)
		if err != nil {
			return nil, err
		}
		out = append(out, vars...)
	}
	return append(out, values...), nil
}

// kvToMap turns KEY=VALUE strings into a map (a bare KEY maps to "").
func kvToMap(values []string) map[string]string {
	m := make(map[string]string, len(values))
	for _, v := range values {
		k, val, _ := strings.Cut(v, "=")
		m[k] = val
	}
	return m
}
