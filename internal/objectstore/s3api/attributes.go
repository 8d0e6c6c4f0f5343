package s3api

import (
	"encoding/xml"
	"strconv"
	"strings"

	"github.com/berth/berth/internal/objectstore"
)

// The object attributes GetObjectAttributes may ask for (x-amz-object-attributes).
var objectAttributes = map[string]bool{"ETag": true, "Checksum": true, "ObjectParts": true, "StorageClass": true, "ObjectSize": true}

type objectAttributesOut struct {
	XMLName      xml.Name        `xml:"http://s3.amazonaws.com/doc/2006-03-01/ GetObjectAttributesResponse"`
	ETag         string          `xml:"ETag,omitempty"`
	Checksum     *checksumOut    `xml:"Checksum,omitempty"`
	ObjectParts  *objectPartsOut `xml:"ObjectParts,omitempty"`
	StorageClass string          `xml:"StorageClass,omitempty"`
	ObjectSize   *int64          `xml:"ObjectSize,omitempty"`
}

type checksumOut struct {
	checksumsXML
	ChecksumType string `xml:"ChecksumType,omitempty"`
}

type objectPartsOut struct {
	TotalPartsCount      int           `xml:"PartsCount"`
	PartNumberMarker     int           `xml:"PartNumberMarker"`
	NextPartNumberMarker int           `xml:"NextPartNumberMarker"`
	MaxParts             int           `xml:"MaxParts"`
	IsTruncated          bool          `xml:"IsTruncated"`
	Parts                []objectPartX `xml:"Part"`
}

type objectPartX struct {
	PartNumber int   `xml:"PartNumber"`
	Size       int64 `xml:"Size"`
	checksumsXML
}

// getObjectAttributes is GET /bucket/key?attributes: what x-amz-object-attributes asks for, of one version,
// without its data. A multipart object's parts are paged by x-amz-max-parts and x-amz-part-number-marker; their
// sizes and checksums are listed when the object has checksums, as S3 does.
func (s *Server) getObjectAttributes(rq *request) error {
	versionID, err := versionParam(rq)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, v := range rq.r.Header.Values("X-Amz-Object-Attributes") {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				if !objectAttributes[a] {
					return invalidArgument("Invalid attribute name specified.", "x-amz-object-attributes", a)
				}
				want[a] = true
			}
		}
	}
	if len(want) == 0 {
		return s3Error("InvalidRequest", "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
	}
	maxParts, err := headerInt(rq, "X-Amz-Max-Parts", objectstore.DefaultMaxKeys)
	if err != nil {
		return err
	}
	marker, err := headerInt(rq, "X-Amz-Part-Number-Marker", 0)
	if err != nil {
		return err
	}
	read, attrs := "s3:GetObject", "s3:GetObjectAttributes"
	if versionID != "" {
		read, attrs = "s3:GetObjectVersion", "s3:GetObjectVersionAttributes"
	}
	b, err := s.lookupBucket(rq)
	if err != nil {
		return err
	}
	// The version and its parts are read together, and S3 asks for both actions about that version: the
	// attributes action and the read of the object.
	var parts []objectstore.Part
	stat := func() (objectstore.ObjectInfo, error) {
		info, ps, err := s.store.ObjectParts(rq.ctx, b.Name, rq.key, objectstore.GetOptions{VersionID: versionID, Conditions: readConditions(rq.r.Header, "")})
		parts = ps
		return info, err
	}
	decideAttrs, decideRead := s.decider(rq, attrs, b, versionID, nil), s.decider(rq, read, b, versionID, nil)
	decide := func(info *objectstore.ObjectInfo) error {
		if err := decideAttrs(info); err != nil {
			return err
		}
		return decideRead(info)
	}
	return s.onVersion(stat, decide, func(info objectstore.ObjectInfo) error {
		return s.writeObjectAttributes(rq, b, info, parts, want, maxParts, marker)
	})
}

// writeObjectAttributes answers GetObjectAttributes about a version and its parts.
func (s *Server) writeObjectAttributes(rq *request, b *objectstore.Bucket, info objectstore.ObjectInfo, parts []objectstore.Part,
	want map[string]bool, maxParts, marker int) error {
	out := objectAttributesOut{}
	if want["ETag"] {
		out.ETag = info.ETag
	}
	if want["StorageClass"] {
		out.StorageClass = info.StorageClass()
	}
	if want["ObjectSize"] {
		size := info.Size
		out.ObjectSize = &size
	}
	if want["Checksum"] && info.Checksum.Algorithm != "" {
		out.Checksum = &checksumOut{checksumsXML: checksumValues(info.Checksum), ChecksumType: string(info.Checksum.Type)}
	}
	if want["ObjectParts"] && info.PartsCount > 0 {
		op := &objectPartsOut{TotalPartsCount: len(parts), PartNumberMarker: marker, MaxParts: maxParts}
		if info.Checksum.Algorithm != "" {
			for _, p := range parts {
				if p.PartNumber <= marker {
					continue
				}
				if len(op.Parts) == maxParts {
					op.IsTruncated = true
					break
				}
				op.Parts = append(op.Parts, objectPartX{PartNumber: p.PartNumber, Size: p.Size, checksumsXML: checksumValues(p.Checksum)})
				op.NextPartNumberMarker = p.PartNumber
			}
		}
		out.ObjectParts = op
	}
	h := rq.w.Header()
	h.Set("Last-Modified", httpTime(info.LastModified))
	writeVersionID(h, b, info.VersionID)
	return writeXML(rq.w, out)
}

// headerInt reads a non-negative integer header (def when absent).
func headerInt(rq *request, name string, def int) (int, error) {
	v := rq.r.Header.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, invalidArgument("Provided "+strings.ToLower(name)+" not an integer or within integer range", strings.ToLower(name), v)
	}
	return min(n, objectstore.DefaultMaxKeys), nil
}
