package ec2api

import (
	"regexp"
	"strings"
)

// AMIID is the EC2 image ID of a Berth image: "ami-" and the first 17 hex digits of its content ID.
func AMIID(imageID string) string {
	h := strings.TrimPrefix(imageID, "sha256:")
	if len(h) > 17 {
		h = h[:17]
	}
	return "ami-" + h
}

var amiPattern = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)

// amiView is an image with what DescribeImages shows of it.
type amiView struct {
	Image
	ami, owner string
}

func (v amiView) name() string {
	if len(v.Names) > 0 {
		return v.Names[0]
	}
	return v.ami
}

var imageFilters = filterSpec[amiView]{
	fields: map[string]func(amiView) []string{
		"image-id": one(func(v amiView) string { return v.ami }),
		// name matches any of the image's references, though the AMI shows the first as its name.
		"name": func(v amiView) []string {
			if len(v.Names) == 0 {
				return []string{v.ami}
			}
			return v.Names
		},
		"state":               one(func(amiView) string { return "available" }),
		"architecture":        one(func(v amiView) string { return archOf(v.Architecture) }),
		"owner-id":            one(func(v amiView) string { return v.owner }),
		"is-public":           one(func(amiView) string { return "false" }),
		"image-type":          one(func(amiView) string { return "machine" }),
		"root-device-type":    one(func(amiView) string { return "ebs" }),
		"root-device-name":    one(func(amiView) string { return rootDevice }),
		"virtualization-type": one(func(amiView) string { return "hvm" }),
		"platform-details":    one(func(amiView) string { return "Linux/UNIX" }),
		"creation-date":       one(func(v amiView) string { return wireTime(v.Created) }),
	},
	tags: func(v amiView) map[string]string { return v.Tags },
}

// rootDevice is the root device name instances and images report (Linux AMIs' usual one).
const rootDevice = "/dev/xvda"

func wireAMI(v amiView) wireImage {
	loc := v.name()
	sizeGiB := int((v.Size + 1<<30 - 1) >> 30)
	if sizeGiB < 8 {
		sizeGiB = 8 // instances get at least EC2's default root volume
	}
	return wireImage{ImageID: v.ami, ImageLocation: loc, ImageState: "available", ImageOwnerID: v.owner,
		CreationDate: wireTime(v.Created), Architecture: archOf(v.Architecture), ImageType: "machine", Name: v.name(),
		Description: strings.Join(v.Names, ", "), RootDeviceType: "ebs", RootDeviceName: rootDevice,
		BlockDeviceMapping: items[wireImageBDM]{{DeviceName: rootDevice, EBS: wireImageBDMEBS(sizeGiB)}},
		VirtualizationType: "hvm", TagSet: wireTags(v.Tags), PlatformDetails: "Linux/UNIX",
		UsageOperation: "RunInstances", EnaSupport: false}
}

func wireImageBDMEBS(sizeGiB int) wireEBSImage {
	return wireEBSImage{VolumeSize: sizeGiB, VolumeType: "gp3", DeleteOnTermination: true}
}

// images lists the backend's images as AMIs.
func (s *Service) images(c *call) ([]amiView, error) {
	imgs, err := s.b.Images(c.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]amiView, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, amiView{Image: img, ami: AMIID(img.ID), owner: c.owner()})
	}
	return out, nil
}

// findImage resolves an AMI ID, with EC2's errors for a malformed or unknown one.
func (s *Service) findImage(c *call, ami string) (amiView, error) {
	if !amiPattern.MatchString(ami) {
		return amiView{}, errAMIMalformed(ami)
	}
	imgs, err := s.images(c)
	if err != nil {
		return amiView{}, err
	}
	for _, v := range imgs {
		if v.ami == ami {
			return v, nil
		}
	}
	return amiView{}, errAMINotFound([]string{ami})
}

func (s *Service) describeImages(c *call) (response, error) {
	filters, err := c.f.filters()
	if err != nil {
		return nil, err
	}
	match, err := imageFilters.compile(filters)
	if err != nil {
		return nil, err
	}
	pg, err := c.f.paging(1, 1000)
	if err != nil {
		return nil, err
	}
	ids := c.f.list("ImageId")
	if len(ids) > 0 && c.f.has("MaxResults") {
		return nil, Errorf(CodeInvalidParameterCombination, "The parameter imageIds cannot be used with the parameter maxResults")
	}
	for _, id := range ids {
		if !amiPattern.MatchString(id) {
			return nil, errAMIMalformed(id)
		}
	}
	imgs, err := s.images(c)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, id := range ids {
		found := false
		for _, v := range imgs {
			found = found || v.ami == id
		}
		if !found {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, errAMINotFound(missing)
	}
	// Berth's images are the caller's own: they match the owner "self" and the caller's account, nothing else
	// (amazon, aws-marketplace or another account own none of them).
	owners := c.f.list("Owner")
	ownedBy := len(owners) == 0
	for _, o := range owners {
		ownedBy = ownedBy || o == "self" || o == c.owner()
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	var sel []amiView
	for _, v := range imgs {
		if ownedBy && (len(ids) == 0 || contains(ids, v.ami)) && match(v) {
			sel = append(sel, v)
		}
	}
	lo, hi, next := pg.bounds(len(sel))
	resp := &describeImagesResponse{ImagesSet: items[wireImage]{}, NextToken: next}
	for _, v := range sel[lo:hi] {
		resp.ImagesSet = append(resp.ImagesSet, wireAMI(v))
	}
	return resp, nil
}
