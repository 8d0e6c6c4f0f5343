package ec2api

import "strings"

// The service is one region with one availability zone: the aws CLI and the SDKs ask for them (and scripts
// pick the first zone).

// zoneID is EC2's ID of the service's zone: the region abbreviated ("us-east-1" → "use1") and "-az1".
func (s *Service) zoneID() string {
	parts := strings.Split(s.region, "-")
	if len(parts) != 3 {
		return s.region + "-az1"
	}
	dir := map[string]string{"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
		"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}[parts[1]]
	if dir == "" {
		dir = parts[1][:1]
	}
	return parts[0] + dir + parts[2] + "-az1"
}

func (s *Service) describeRegions(c *call) (response, error) {
	filters, err := c.f.filters()
	if err != nil {
		return nil, err
	}
	endpoint := c.r.Host
	match, err := filterSpec[string]{fields: map[string]func(string) []string{
		"region-name":   func(r string) []string { return []string{r} },
		"endpoint":      func(string) []string { return []string{endpoint} },
		"opt-in-status": func(string) []string { return []string{"opt-in-not-required"} },
	}}.compile(filters)
	if err != nil {
		return nil, err
	}
	if _, err := c.f.boolean("AllRegions"); err != nil {
		return nil, err
	}
	var unknown []string
	names := c.f.list("RegionName")
	for _, n := range names {
		if n != s.region {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return nil, errInvalidValue("Invalid region names: [%s]", strings.Join(unknown, ", "))
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	resp := &describeRegionsResponse{RegionInfo: items[wireRegion]{}}
	if match(s.region) {
		resp.RegionInfo = append(resp.RegionInfo, wireRegion{RegionName: s.region, RegionEndpoint: endpoint, OptInStatus: "opt-in-not-required"})
	}
	return resp, nil
}

func (s *Service) describeAvailabilityZones(c *call) (response, error) {
	filters, err := c.f.filters()
	if err != nil {
		return nil, err
	}
	z := wireZone{ZoneName: s.zone(), ZoneState: "available", RegionName: s.region, ZoneID: s.zoneID(), GroupName: s.region,
		NetworkBorderGroup: s.region, ZoneType: "availability-zone", OptInStatus: "opt-in-not-required", MessageSet: items[struct{}]{}}
	match, err := filterSpec[wireZone]{fields: map[string]func(wireZone) []string{
		"zone-name":            one(func(z wireZone) string { return z.ZoneName }),
		"zone-id":              one(func(z wireZone) string { return z.ZoneID }),
		"region-name":          one(func(z wireZone) string { return z.RegionName }),
		"state":                one(func(z wireZone) string { return z.ZoneState }),
		"zone-type":            one(func(z wireZone) string { return z.ZoneType }),
		"group-name":           one(func(z wireZone) string { return z.GroupName }),
		"network-border-group": one(func(z wireZone) string { return z.NetworkBorderGroup }),
		"opt-in-status":        one(func(z wireZone) string { return z.OptInStatus }),
	}}.compile(filters)
	if err != nil {
		return nil, err
	}
	if _, err := c.f.boolean("AllAvailabilityZones"); err != nil {
		return nil, err
	}
	for _, n := range c.f.list("ZoneName") {
		if n != z.ZoneName {
			return nil, errInvalidValue("Invalid availability zone: [%s]", n)
		}
	}
	for _, id := range c.f.list("ZoneId") {
		if id != z.ZoneID {
			return nil, errInvalidValue("Invalid availability zone ID: [%s]", id)
		}
	}
	if err := c.dry(); err != nil {
		return nil, err
	}
	resp := &describeZonesResponse{AvailabilityZoneInfo: items[wireZone]{}}
	if match(z) {
		resp.AvailabilityZoneInfo = append(resp.AvailabilityZoneInfo, z)
	}
	return resp, nil
}
