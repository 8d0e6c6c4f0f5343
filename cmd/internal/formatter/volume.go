package formatter

import (
	"strconv"

	"github.com/moby/moby/api/types/volume"
)

const defaultVolumeTableFormat = "table {{.Driver}}\t{{.Name}}"

// VolumeHeader titles the volume fields.
var VolumeHeader = Header{
	"Name":       "VOLUME NAME",
	"Driver":     "DRIVER",
	"Scope":      "SCOPE",
	"Mountpoint": "MOUNTPOINT",
	"Labels":     "LABELS",
	"Links":      "LINKS",
	"Size":       "SIZE",
}

// NewVolumeFormat resolves `volume ls`' --format.
func NewVolumeFormat(source string, quiet bool) Format {
	switch {
	case quiet:
		return "{{.Name}}"
	case source == "" || source == TableFormatKey:
		return defaultVolumeTableFormat
	default:
		return Format(source)
	}
}

// VolumeRow is one volume as templates see it.
type VolumeRow struct {
	V volume.Volume
}

// VolumeRows wraps a list for Context.Write.
func VolumeRows(list []volume.Volume) []any {
	rows := make([]any, len(list))
	for i, v := range list {
		rows[i] = &VolumeRow{V: v}
	}
	return rows
}

// MarshalJSON encodes the row's fields.
func (r *VolumeRow) MarshalJSON() ([]byte, error) { return MarshalJSON(r) }

// Name is the volume's name.
func (r *VolumeRow) Name() string { return r.V.Name }

// Driver is the volume driver.
func (r *VolumeRow) Driver() string { return r.V.Driver }

// Scope is "local" or "global".
func (r *VolumeRow) Scope() string { return r.V.Scope }

// Mountpoint is where the volume's data lives on the host.
func (r *VolumeRow) Mountpoint() string { return r.V.Mountpoint }

// Labels are the labels as sorted k=v pairs.
func (r *VolumeRow) Labels() string { return joinLabels(r.V.Labels) }

// Label returns one label's value.
func (r *VolumeRow) Label(name string) string { return r.V.Labels[name] }

// Links counts the containers using the volume, or "N/A".
func (r *VolumeRow) Links() string {
	if r.V.UsageData == nil || r.V.UsageData.RefCount < 0 {
		return "N/A"
	}
	return strconv.FormatInt(r.V.UsageData.RefCount, 10)
}

// Size is the space the volume uses, or "N/A".
func (r *VolumeRow) Size() string {
	if r.V.UsageData == nil || r.V.UsageData.Size < 0 {
		return "N/A"
	}
	return HumanSize(r.V.UsageData.Size)
}
