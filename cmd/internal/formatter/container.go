package formatter

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
)

// DefaultContainerTableFormat is `ps`'s table.
const DefaultContainerTableFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

// ContainerHeader titles the container fields.
var ContainerHeader = Header{
	"ID":           "CONTAINER ID",
	"Names":        "NAMES",
	"Image":        "IMAGE",
	"Command":      "COMMAND",
	"CreatedAt":    "CREATED AT",
	"RunningFor":   "CREATED",
	"Ports":        "PORTS",
	"State":        "STATE",
	"Status":       "STATUS",
	"Size":         "SIZE",
	"Labels":       "LABELS",
	"Mounts":       "MOUNTS",
	"LocalVolumes": "LOCAL VOLUMES",
	"Networks":     "NETWORKS",
}

// NewContainerFormat resolves ps's --format: "" and "table" mean the default table (plus SIZE with -s).
func NewContainerFormat(source string, quiet, size bool) Format {
	switch source {
	case "", TableFormatKey:
		if quiet {
			return DefaultQuietFormat
		}
		f := DefaultContainerTableFormat
		if size {
			f += `\t{{.Size}}`
		}
		return Format(f)
	default:
		if quiet {
			return DefaultQuietFormat
		}
		return Format(source)
	}
}

// ContainerRow is one container as `ps` templates see it.
type ContainerRow struct {
	C     container.Summary
	Trunc bool
}

// ContainerRows wraps a list for Context.Write.
func ContainerRows(list []container.Summary, trunc bool) []any {
	rows := make([]any, len(list))
	for i, c := range list {
		rows[i] = &ContainerRow{C: c, Trunc: trunc}
	}
	return rows
}

// MarshalJSON encodes the row's fields.
func (r *ContainerRow) MarshalJSON() ([]byte, error) { return MarshalJSON(r) }

// ID is the container ID, 12 characters when truncating.
func (r *ContainerRow) ID() string {
	if r.Trunc {
		return TruncateID(r.C.ID)
	}
	return r.C.ID
}

// Names are the names without their leading slash; truncated output shows only the primary one.
func (r *ContainerRow) Names() string {
	var names []string
	for _, n := range r.C.Names {
		n = strings.TrimPrefix(n, "/")
		if r.Trunc {
			if !strings.Contains(n, "/") {
				return n
			}
			continue
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

// Image is the image as given at create time, shortened to its familiar form when truncating.
func (r *ContainerRow) Image() string {
	img := r.C.Image
	if img == "" {
		return "<no image>"
	}
	if !r.Trunc {
		return img
	}
	if t := TruncateID(r.C.ImageID); t != "" && t == TruncateID(img) {
		return t
	}
	ref, err := reference.ParseNormalizedNamed(img)
	if err != nil {
		return img
	}
	if _, ok := ref.(reference.Digested); ok {
		tagged, isTagged := ref.(reference.Tagged)
		ref = reference.TrimNamed(ref)
		if isTagged {
			if withTag, err := reference.WithTag(ref, tagged.Tag()); err == nil {
				ref = withTag
			}
		}
	}
	return reference.FamiliarString(ref)
}

// Command is the quoted command line, cut to 20 characters when truncating.
func (r *ContainerRow) Command() string {
	cmd := r.C.Command
	if r.Trunc {
		cmd = Ellipsis(cmd, 20)
	}
	return strconv.Quote(cmd)
}

// CreatedAt is the creation time in Go's default format.
func (r *ContainerRow) CreatedAt() string { return time.Unix(r.C.Created, 0).String() }

// RunningFor is how long ago the container was created ("5 minutes ago").
func (r *ContainerRow) RunningFor() string { return Ago(time.Unix(r.C.Created, 0)) }

// Ports lists published and exposed ports, grouping consecutive ones.
func (r *ContainerRow) Ports() string { return DisplayablePorts(r.C.Ports) }

// State is the state word ("running", "exited").
func (r *ContainerRow) State() string { return string(r.C.State) }

// Status is the daemon's human status ("Up 3 seconds", "Exited (0) 5 seconds ago").
func (r *ContainerRow) Status() string { return r.C.Status }

// Size is the writable layer's size, with the virtual size when known.
func (r *ContainerRow) Size() string {
	s := Size(r.C.SizeRw)
	if r.C.SizeRootFs > 0 {
		s = fmt.Sprintf("%s (virtual %s)", s, Size(r.C.SizeRootFs))
	}
	return s
}

// Labels are the labels as sorted k=v pairs joined by commas.
func (r *ContainerRow) Labels() string { return joinLabels(r.C.Labels) }

// Label returns one label's value.
func (r *ContainerRow) Label(name string) string { return r.C.Labels[name] }

// Mounts lists mount names (volume name or source path).
func (r *ContainerRow) Mounts() string {
	names := make([]string, 0, len(r.C.Mounts))
	for _, m := range r.C.Mounts {
		name := m.Name
		if name == "" {
			name = m.Source
		}
		if r.Trunc {
			name = Ellipsis(name, 15)
		}
		names = append(names, name)
	}
	return strings.Join(names, ",")
}

// LocalVolumes counts mounts of local-driver volumes.
func (r *ContainerRow) LocalVolumes() string {
	n := 0
	for _, m := range r.C.Mounts {
		if m.Driver == "local" {
			n++
		}
	}
	return strconv.Itoa(n)
}

// Networks lists the networks the container is attached to.
func (r *ContainerRow) Networks() string {
	if r.C.NetworkSettings == nil {
		return ""
	}
	names := make([]string, 0, len(r.C.NetworkSettings.Networks))
	for n := range r.C.NetworkSettings.Networks {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func joinLabels(labels map[string]string) string {
	pairs := make([]string, 0, len(labels))
	for k, v := range labels {
		pairs = append(pairs, k+"="+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}

// DisplayablePorts renders port mappings as ps does: "0.0.0.0:8080->80/tcp, 443/tcp", with runs of
// consecutive ports collapsed into ranges.
func DisplayablePorts(ports []container.PortSummary) string {
	type group struct{ first, last uint16 }
	ports = append([]container.PortSummary(nil), ports...)
	sort.Slice(ports, func(i, j int) bool {
		a, b := ports[i], ports[j]
		if a.PrivatePort != b.PrivatePort {
			return a.PrivatePort < b.PrivatePort
		}
		if a.IP != b.IP {
			return a.IP.Less(b.IP)
		}
		if a.PublicPort != b.PublicPort {
			return a.PublicPort < b.PublicPort
		}
		return a.Type < b.Type
	})
	groups := map[string]*group{}
	var order, result, mappings []string
	for _, p := range ports {
		key := p.Type
		if p.IP.IsValid() {
			if p.PublicPort != p.PrivatePort {
				host := net.JoinHostPort(p.IP.String(), strconv.Itoa(int(p.PublicPort)))
				mappings = append(mappings, fmt.Sprintf("%s->%d/%s", host, p.PrivatePort, p.Type))
				continue
			}
			key = p.IP.String() + "/" + p.Type
		}
		g := groups[key]
		if g == nil {
			groups[key] = &group{p.PrivatePort, p.PrivatePort}
			order = append(order, key)
			continue
		}
		if p.PrivatePort == g.last+1 {
			g.last = p.PrivatePort
			continue
		}
		result = append(result, formatPortGroup(key, g.first, g.last))
		groups[key] = &group{p.PrivatePort, p.PrivatePort}
	}
	for _, key := range order {
		g := groups[key]
		result = append(result, formatPortGroup(key, g.first, g.last))
	}
	return strings.Join(append(result, mappings...), ", ")
}

func formatPortGroup(key string, first, last uint16) string {
	ip, proto, hasIP := strings.Cut(key, "/")
	if !hasIP {
		proto, ip = key, ""
	}
	ports := strconv.Itoa(int(first))
	if first != last {
		ports += "-" + strconv.Itoa(int(last))
	}
	if ip != "" {
		ports = net.JoinHostPort(ip, ports) + "->" + ports
	}
	return ports + "/" + proto
}
