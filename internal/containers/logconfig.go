package containers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"

	"github.com/berth/berth/internal/logger/jsonfile"
	"github.com/berth/berth/internal/logger/local"
	"github.com/berth/berth/internal/task"
)

// Log drivers: docker's json-file and local, whose files the shim writes and `logs` reads, and none. Docker's
// other drivers ship logs to a service (syslog, journald, fluentd, gelf, awslogs ...); Berth has none of them
// and refuses them in docker's words for a driver that is not registered.
const logDriverNone = "none"

// Log-opts every driver takes (docker's built-in ones): the delivery mode, and the cache of docker's dual
// logging, which only applies to drivers that cannot be read back.
var builtinLogOpts = map[string]bool{"mode": true, "max-buffer-size": true,
	"cache-disabled": true, "cache-max-size": true, "cache-max-file": true, "cache-compress": true}

// Log-opts json-file and local take besides their rotation options: what each record carries.
var attrLogOpts = map[string]bool{"labels": true, "labels-regex": true, "env": true, "env-regex": true, "tag": true}

// ValidateLogDriver checks a daemon's default log driver (json-file when empty) and options, as
// ValidateLogConfig checks a container's.
func ValidateLogDriver(driver string, opts map[string]string) error {
	if driver == "" {
		driver = jsonfile.Name
	}
	return ValidateLogConfig(container.LogConfig{Type: driver, Config: opts})
}

// mergeLogConfig is docker's mergeAndVerifyLogConfig: a container without a driver gets the daemon's, and a
// container with the daemon's driver the daemon's options it does not set itself. The result is validated.
func (d *Service) mergeLogConfig(lc *container.LogConfig) error {
	def := container.LogConfig{Type: d.cfg.LogDriver, Config: d.cfg.LogOpts}
	if def.Type == "" {
		def.Type = jsonfile.Name // docker's default, without rotation
	}
	if lc.Type == "" {
		lc.Type = def.Type
	}
	if lc.Config == nil {
		lc.Config = map[string]string{}
	}
	if lc.Type == def.Type {
		for k, v := range def.Config {
			if _, ok := lc.Config[k]; !ok {
				lc.Config[k] = v
			}
		}
	}
	return ValidateLogConfig(*lc)
}

// ValidateLogConfig checks a log driver and its options as docker does when a container is created
// (logger.ValidateLogOpts), and, earlier than docker (which finds them when the container starts), the
// options' values, with the words docker's drivers use for them.
func ValidateLogConfig(lc container.LogConfig) error {
	if lc.Type == logDriverNone {
		return nil
	}
	opts := lc.Config
	switch mode := container.LogMode(opts["mode"]); mode {
	case container.LogModeBlocking, container.LogModeNonBlock, container.LogModeUnset:
	default:
		return fmt.Errorf("logger: logging mode not supported: %s", mode)
	}
	if s, ok := opts["max-buffer-size"]; ok {
		if container.LogMode(opts["mode"]) != container.LogModeNonBlock {
			return fmt.Errorf("logger: max-buffer-size option is only supported with 'mode=%s'", container.LogModeNonBlock)
		}
		if _, err := units.RAMInBytes(s); err != nil {
			return fmt.Errorf("error parsing option max-buffer-size: %w", err)
		}
	}
	if lc.Type != jsonfile.Name && lc.Type != local.Name {
		return fmt.Errorf("logger: no log driver named '%s' is registered", lc.Type)
	}
	for k := range opts {
		if builtinLogOpts[k] || attrLogOpts[k] || k == "max-size" || k == "max-file" || k == "compress" {
			continue
		}
		if lc.Type == local.Name {
			return fmt.Errorf("unknown log opt '%s' for log driver %s", k, local.Name)
		}
		return fmt.Errorf("unknown log opt '%s' for json-file log driver", k)
	}
	if _, err := logRotation(lc); err != nil {
		return fmt.Errorf("failed to initialize logging driver: %w", err)
	}
	for _, k := range []string{"labels-regex", "env-regex"} {
		if re, ok := opts[k]; ok && re != "" {
			if _, err := regexp.Compile(re); err != nil {
				return fmt.Errorf("failed to initialize logging driver: %w", err)
			}
		}
	}
	if tag := opts["tag"]; tag != "" {
		if _, err := template.New("log-tag").Funcs(logTagFuncs).Parse(tag); err != nil {
			return fmt.Errorf("failed to initialize logging driver: %w", err)
		}
	}
	return nil
}

// logRotation reads a file driver's rotation options with its defaults and its checks: json-file's (no
// rotation unless max-size is set) or local's (20 MiB, 5 files, compressed).
func logRotation(lc container.LogConfig) (task.LogOptions, error) {
	opts := lc.Config
	o := task.LogOptions{Format: lc.Type}
	if lc.Type == local.Name {
		o.MaxSize, o.MaxFiles, o.Compress = local.DefaultMaxSize, local.DefaultMaxFiles, local.DefaultCompress
		if v, ok := opts["max-size"]; ok {
			n, err := units.FromHumanSize(v)
			if err != nil {
				return o, fmt.Errorf("invalid value for max-size: %s: %w", v, err)
			}
			o.MaxSize = n
		}
		if v, ok := opts["max-file"]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return o, fmt.Errorf("invalid value for max-file: %s: %w", v, err)
			}
			o.MaxFiles = n
		}
		if v, ok := opts["compress"]; ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return o, fmt.Errorf("invalid boolean value for compress: %w", err)
			}
			o.Compress = b
		}
		switch {
		case o.MaxSize < 0:
			return o, errors.New("max-size must not be negative")
		case o.MaxFiles < 0:
			return o, errors.New("max-file must not be negative")
		case o.Compress && o.MaxFiles <= 1:
			return o, errors.New("compression cannot be enabled when max file count is 1")
		case o.MaxSize == 0:
			o.MaxSize = 1 // docker's local driver rotates before every record at max-size 0
		}
		return o, nil
	}
	o.MaxFiles = 1
	if v, ok := opts["max-size"]; ok {
		n, err := units.FromHumanSize(v)
		if err != nil {
			return o, err
		}
		if n <= 0 {
			return o, errors.New("max-size must be a positive number")
		}
		o.MaxSize = n
	}
	if v, ok := opts["max-file"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return o, err
		}
		if n < 1 {
			return o, errors.New("max-file cannot be less than 1")
		}
		o.MaxFiles = n
	}
	if v, ok := opts["compress"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return o, err
		}
		if b && (o.MaxFiles == 1 || o.MaxSize == 0) {
			return o, errors.New("compress cannot be true when max-file is less than 2 or max-size is not set")
		}
		o.Compress = b
	}
	return o, nil
}

// logFile is where container c's log is kept, for its driver: <id>-json.log (json-file), local-logs/container.log
// (local), or nowhere (none). Docker shows the path of json-file logs only (inspect's LogPath).
func (d *Service) logFile(c *Container) string {
	switch c.HostConfig.LogConfig.Type {
	case jsonfile.Name, "":
		return c.LogPath
	case local.Name:
		return filepath.Join(d.containerDir(c.ID), "local-logs", "container.log")
	}
	return ""
}

// logSettings are the log file and options a start gives the task (docker makes its logger at each start, with
// the container's name and config of that moment).
func (d *Service) logSettings(c *Container) (string, task.LogOptions, error) {
	path := d.logFile(c)
	if path == "" {
		return "", task.LogOptions{}, nil
	}
	lc := c.HostConfig.LogConfig
	if lc.Type == "" {
		lc.Type = jsonfile.Name
	}
	o, err := logRotation(lc)
	if err != nil {
		return "", o, fmt.Errorf("failed to initialize logging driver: %w", err)
	}
	if o.Attrs, err = logAttrs(c, lc.Config); err != nil {
		return "", o, fmt.Errorf("failed to initialize logging driver: %w", err)
	}
	if lc.Type == local.Name {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", o, err
		}
	}
	return path, o, nil
}

// logAttrs are the attributes every record of c carries, docker's logger.Info.ExtraAttributes and tag: the
// labels named by "labels" or matching "labels-regex", the environment variables named by "env" or matching
// "env-regex", and "tag" from its template.
func logAttrs(c *Container, opts map[string]string) (map[string]string, error) {
	attrs := map[string]string{}
	labels := c.Config.Labels
	if v := opts["labels"]; v != "" {
		for _, l := range strings.Split(v, ",") {
			if val, ok := labels[l]; ok {
				attrs[l] = val
			}
		}
	}
	if v := opts["labels-regex"]; v != "" {
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, err
		}
		for k, val := range labels {
			if re.MatchString(k) {
				attrs[k] = val
			}
		}
	}
	env := map[string]string{}
	for _, e := range c.Config.Env {
		if k, v, ok := strings.Cut(e, "="); ok {
			env[k] = v
		}
	}
	if v := opts["env"]; v != "" {
		for _, k := range strings.Split(v, ",") {
			if val, ok := env[k]; ok {
				attrs[k] = val
			}
		}
	}
	if v := opts["env-regex"]; v != "" {
		re, err := regexp.Compile(v)
		if err != nil {
			return nil, err
		}
		for k, val := range env {
			if re.MatchString(k) {
				attrs[k] = val
			}
		}
	}
	if tmpl := opts["tag"]; tmpl != "" {
		tag, err := logTag(c, tmpl)
		if err != nil {
			return nil, err
		}
		if tag != "" {
			attrs["tag"] = tag
		}
	}
	return attrs, nil
}

// logTagInfo is what a tag template sees: docker's logger.Info, its fields and methods.
type logTagInfo struct {
	Config              map[string]string
	ContainerID         string
	ContainerName       string
	ContainerEntrypoint string
	ContainerArgs       []string
	ContainerImageID    string
	ContainerImageName  string
	ContainerEnv        []string
	ContainerLabels     map[string]string
	LogPath             string
	DaemonName          string
}

func (i *logTagInfo) ID() string     { return shortID(i.ContainerID) }
func (i *logTagInfo) FullID() string { return i.ContainerID }
func (i *logTagInfo) Name() string   { return strings.TrimPrefix(i.ContainerName, "/") }
func (i *logTagInfo) ImageID() string {
	return shortID(strings.TrimPrefix(i.ContainerImageID, "sha256:"))
}
func (i *logTagInfo) ImageFullID() string { return i.ContainerImageID }
func (i *logTagInfo) ImageName() string   { return i.ContainerImageName }
func (i *logTagInfo) Command() string {
	return strings.Join(append([]string{i.ContainerEntrypoint}, i.ContainerArgs...), " ")
}
func (i *logTagInfo) Hostname() (string, error) { return os.Hostname() }

// logTagFuncs are the functions of docker's log tag templates (daemon/logger/templates).
var logTagFuncs = template.FuncMap{
	"json": func(v any) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(v)
		return strings.TrimSpace(b.String())
	},
	"split": strings.Split,
	"join":  strings.Join,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"pad": func(s string, left, right int) string {
		return strings.Repeat(" ", left) + s + strings.Repeat(" ", right)
	},
	"truncate": func(s string, n int) string {
		if len(s) > n {
			return s[:n]
		}
		return s
	},
}

// logTag evaluates docker's tag log-opt for c.
func logTag(c *Container, tmpl string) (string, error) {
	info := &logTagInfo{
		Config: c.HostConfig.LogConfig.Config, ContainerID: c.ID, ContainerName: c.Name,
		ContainerEntrypoint: c.Path, ContainerArgs: c.Args, ContainerImageID: c.ImageID,
		ContainerImageName: c.Config.Image, ContainerEnv: c.Config.Env, ContainerLabels: c.Config.Labels,
		LogPath: c.LogPath, DaemonName: "docker",
	}
	t, err := template.New("log-tag").Funcs(logTagFuncs).Parse(tmpl)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, info); err != nil {
		return "", err
	}
	return b.String(), nil
}

// jsonLogPath is the log of a json-file container (docker's <id>-json.log in its directory, which inspect
// shows); a container of another driver has none to show.
func jsonLogPath(dir, id, driver string) string {
	if driver != jsonfile.Name {
		return ""
	}
	return filepath.Join(dir, id+"-json.log")
}
