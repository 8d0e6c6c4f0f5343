package formatter

import (
	"fmt"
	"strconv"
)

// DefaultDiskUsageTableFormat is `system df`'s summary table.
const DefaultDiskUsageTableFormat = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"

// Verbose `system df -v` sections.
const (
	DiskUsageImageTableFormat     = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}"
	DiskUsageContainerTableFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}"
	DiskUsageVolumeTableFormat    = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
)

// DiskUsageHeader titles the summary fields.
var DiskUsageHeader = Header{
	"Type":        "TYPE",
	"TotalCount":  "TOTAL",
	"Active":      "ACTIVE",
	"Size":        "SIZE",
	"Reclaimable": "RECLAIMABLE",
}

// DiskUsageRow is one line of the `system df` summary.
type DiskUsageRow struct {
	Kind                      string
	Total, ActiveCount        int64
	TotalSize, ReclaimableSum int64
	// ShowPercent adds "(N%)" to Reclaimable, as docker does for all but build cache.
	ShowPercent bool
}

// MarshalJSON encodes the row's fields.
func (r *DiskUsageRow) MarshalJSON() ([]byte, error) { return MarshalJSON(r) }

// Type is "Images", "Containers", "Local Volumes" or "Build Cache".
func (r *DiskUsageRow) Type() string { return r.Kind }

// TotalCount is the number of objects.
func (r *DiskUsageRow) TotalCount() string { return strconv.FormatInt(r.Total, 10) }

// Active is the number of objects in use.
func (r *DiskUsageRow) Active() string { return strconv.FormatInt(r.ActiveCount, 10) }

// Size is the space the objects use.
func (r *DiskUsageRow) Size() string { return HumanSize(r.TotalSize) }

// Reclaimable is the space a prune would free, with its share of Size.
func (r *DiskUsageRow) Reclaimable() string {
	if r.ShowPercent && r.TotalSize > 0 {
		return fmt.Sprintf("%s (%v%%)", HumanSize(r.ReclaimableSum), r.ReclaimableSum*100/r.TotalSize)
	}
	return HumanSize(r.ReclaimableSum)
}
