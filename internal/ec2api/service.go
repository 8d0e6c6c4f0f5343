// Package ec2api is Berth's EC2: the EC2 Query API (version 2016-11-15) as a cloud.Service, so the aws CLI
// (`aws ec2 …`), the SDKs and their waiters drive Berth's virtual machine instances, key pairs, security groups
// and images (Berth's images are the AMIs) as they drive EC2. It owns the protocol and nothing of the machines:
// parsing a request (Action=…&Filter.1.Name=…, with EC2's validation errors), authorization, filters, paging,
// dry runs, and EC2's XML shapes and error codes; a Backend (the VM engine, through an adapter) does the work.
//
//	svc := ec2api.New(backend, ec2api.WithRegion(ep.Region()))
//	ep.Register("ec2", svc)                // requests whose credential scope names ec2
//	defer svc.Close()                      // waits for the state changes it runs in the background
//
// Any identity the endpoint authenticates may call it: an account's root for anything, an IAM user for what its
// identity policies allow (ec2:RunInstances, …); an unsigned request is AuthFailure. The backend scopes resources
// to the caller's account, which it finds in the request's context (cloud.InfoFrom): the daemon's keeps each
// account's instances, key pairs and security groups apart, as EC2 does; images are shared. Responses name the
// caller's account as their owner.
package ec2api

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth/berth/internal/cloud"
)

// Option configures a Service.
type Option func(*Service)

// WithRegion sets the region the service is (default us-east-1); its one availability zone is REGION + "a".
// Requests signed for another region are refused.
func WithRegion(region string) Option { return func(s *Service) { s.region = region } }

// WithLogger sets the structured logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithSettle sets how long Start/Stop/Reboot/TerminateInstances wait for the backend before answering with the
// state the instance is in then (default 2 s): EC2 answers at once with "stopping", a guest may take a minute.
func WithSettle(d time.Duration) Option { return func(s *Service) { s.settle = d } }

// WithMaxCount bounds the instances one RunInstances may launch (default 20; EC2's InstanceLimitExceeded).
func WithMaxCount(n int) Option { return func(s *Service) { s.maxCount = n } }

// WithClock sets the clock (console output timestamps).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// Service is the EC2 API over a Backend. It implements cloud.Service.
type Service struct {
	b        Backend
	region   string
	log      *slog.Logger
	settle   time.Duration
	maxCount int
	now      func() time.Time
	arch     string
	actions  map[string]action

	runMu       sync.Mutex      // RunInstances one at a time, so a retried client token finds what the first launched
	failed      map[string]bool // reservations whose launch failed (runMu)
	failedOrder []string
	wg          sync.WaitGroup
}

var _ cloud.Service = (*Service)(nil)

type action struct {
	// params are the parameter shapes the action takes besides DryRun (see shape).
	params []string
	// unsupported are the prefixes of parameters EC2 takes and Berth refuses (UnsupportedOperation).
	unsupported []string
	fn          func(c *call) (response, error)
	known       map[string]bool // params as a set, with DryRun

}

// call is one request being served.
type call struct {
	ctx    context.Context
	r      *http.Request
	f      form
	caller cloud.Identity
	info   cloud.RequestInfo
	action string
	dryRun bool
}

// dry ends a dry run once the request has been checked: EC2's DryRunOperation.
func (c *call) dry() error {
	if c.dryRun {
		return &Error{Code: CodeDryRunOperation, Message: msgDryRun}
	}
	return nil
}

// owner is the account resources are reported as owned by.
func (c *call) owner() string { return c.caller.AccountID }

// New returns the EC2 API over b.
func New(b Backend, opts ...Option) *Service {
	s := &Service{b: b, region: cloud.DefaultRegion, log: slog.Default(), settle: 2 * time.Second, maxCount: 20,
		now: time.Now, arch: archOf(runtime.GOARCH)}
	for _, o := range opts {
		o(s)
	}
	s.actions = map[string]action{
		"CreateKeyPair":    {params: []string{"KeyName", "KeyType", "KeyFormat", tagSpecParams}, fn: s.createKeyPair},
		"ImportKeyPair":    {params: []string{"KeyName", "PublicKeyMaterial", tagSpecParams}, fn: s.importKeyPair},
		"DescribeKeyPairs": {params: []string{"KeyName.N", "KeyPairId.N", "IncludePublicKey", filterParams}, fn: s.describeKeyPairs},
		"DeleteKeyPair":    {params: []string{"KeyName", "KeyPairId"}, fn: s.deleteKeyPair},

		"CreateSecurityGroup":           {params: []string{"GroupName", "GroupDescription", "VpcId", tagSpecParams}, fn: s.createSecurityGroup},
		"DescribeSecurityGroups":        {params: []string{"GroupId.N", "GroupName.N", "MaxResults", "NextToken", filterParams}, fn: s.describeSecurityGroups},
		"DeleteSecurityGroup":           {params: []string{"GroupId", "GroupName"}, fn: s.deleteSecurityGroup},
		"AuthorizeSecurityGroupIngress": {params: ingressParams, fn: s.authorizeIngress},
		"RevokeSecurityGroupIngress":    {params: ingressParams, fn: s.revokeIngress},

		"DescribeImages": {params: []string{"ImageId.N", "Owner.N", "ExecutableBy.N", "IncludeDeprecated", "IncludeDisabled", "MaxResults", "NextToken", filterParams}, fn: s.describeImages},

		"RunInstances":           {params: runParams, unsupported: runUnsupported, fn: s.runInstances},
		"DescribeInstances":      {params: []string{"InstanceId.N", "MaxResults", "NextToken", "IncludeManagedResources", filterParams}, fn: s.describeInstances},
		"DescribeInstanceStatus": {params: []string{"InstanceId.N", "MaxResults", "NextToken", "IncludeAllInstances", "IncludeManagedResources", filterParams}, fn: s.describeInstanceStatus},
		"StartInstances":         {params: []string{"InstanceId.N", "AdditionalInfo"}, fn: s.startInstances},
		"StopInstances":          {params: []string{"InstanceId.N", "Force", "Hibernate", "SkipOsShutdown"}, fn: s.stopInstances},
		"RebootInstances":        {params: []string{"InstanceId.N"}, fn: s.rebootInstances},
		"TerminateInstances":     {params: []string{"InstanceId.N", "Force", "SkipOsShutdown"}, fn: s.terminateInstances},
		"GetConsoleOutput":       {params: []string{"InstanceId", "Latest"}, fn: s.getConsoleOutput},
		"DescribeInstanceTypes":  {params: []string{"InstanceType.N", "MaxResults", "NextToken", "IncludeUnsupportedInRegion", filterParams}, fn: s.describeInstanceTypes},

		"CreateTags":   {params: []string{"ResourceId.N", "Tag.N.Key", "Tag.N.Value"}, fn: s.createTags},
		"DeleteTags":   {params: []string{"ResourceId.N", "Tag.N.Key", "Tag.N.Value"}, fn: s.deleteTags},
		"DescribeTags": {params: []string{"MaxResults", "NextToken", filterParams}, fn: s.describeTags},

		"DescribeRegions":           {params: []string{"RegionName.N", "AllRegions", filterParams}, fn: s.describeRegions},
		"DescribeAvailabilityZones": {params: []string{"ZoneName.N", "ZoneId.N", "AllAvailabilityZones", filterParams}, fn: s.describeAvailabilityZones},
	}
	for name, a := range s.actions {
		a.known = knownParams(a.params)
		s.actions[name] = a
	}
	return s
}

// Close waits for the state changes the service started in the background (a stop that outlived its request).
func (s *Service) Close() error {
	s.wg.Wait()
	return nil
}

const (
	filterParams  = "Filter.N.Name Filter.N.Value.N"
	tagSpecParams = "TagSpecification.N.ResourceType TagSpecification.N.Tag.N.Key TagSpecification.N.Tag.N.Value"
)

var ingressParams = []string{"GroupId", "GroupName", "CidrIp", "FromPort", "ToPort", "IpProtocol",
	"SourceSecurityGroupName", "SourceSecurityGroupOwnerId", tagSpecParams,
	"IpPermissions.N.IpProtocol", "IpPermissions.N.FromPort", "IpPermissions.N.ToPort",
	"IpPermissions.N.IpRanges.N.CidrIp", "IpPermissions.N.IpRanges.N.Description",
	"IpPermissions.N.Groups.N.GroupId", "IpPermissions.N.Groups.N.GroupName", "IpPermissions.N.Groups.N.UserId",
	"IpPermissions.N.Groups.N.Description", "IpPermissions.N.Groups.N.VpcId",
	"IpPermissions.N.Ipv6Ranges.N.CidrIpv6", "IpPermissions.N.Ipv6Ranges.N.Description",
	"IpPermissions.N.PrefixListIds.N.PrefixListId", "IpPermissions.N.PrefixListIds.N.Description",
	"SecurityGroupRuleId.N"}

func knownParams(list []string) map[string]bool {
	m := map[string]bool{"DryRun": true}
	for _, p := range list {
		for _, f := range strings.Fields(p) {
			m[f] = true
		}
	}
	return m
}

var _ cloud.ActionServer = (*Service)(nil)

// HasAction implements cloud.ActionServer: the endpoint finds the service of an unsigned request without a
// Version by its action.
func (s *Service) HasAction(action string) bool {
	_, ok := s.actions[action]
	return ok
}

// ServeHTTP implements cloud.Service.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		s.WriteError(w, r, Errorf(CodeInvalidAction, "The EC2 API takes GET and POST requests."))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		var ce *cloud.Error
		if !errors.As(err, &ce) {
			err = Errorf("MalformedQueryString", "The query string or body could not be parsed as a form.")
		}
		s.WriteError(w, r, err)
		return
	}
	info := cloud.InfoFrom(r.Context())
	c := &call{ctx: r.Context(), r: r, f: form(r.Form), caller: info.Identity, info: info, action: r.Form.Get("Action")}
	if err := s.serve(c, w); err != nil {
		s.WriteError(w, r, err)
	}
}

func (s *Service) serve(c *call, w http.ResponseWriter) error {
	if c.caller.Anonymous {
		return &Error{Code: CodeAuthFailure, Message: msgAuthFailure}
	}
	if c.info.Region != "" && c.info.Region != s.region {
		return &Error{Code: CodeAuthFailure, Message: "Credential should be scoped to a valid region, not '" + c.info.Region +
			"'. This endpoint serves " + s.region + ".", Status: http.StatusUnauthorized}
	}
	if c.action == "" {
		return Errorf(CodeMissingAction, "The request must contain the parameter Action")
	}
	act, ok := s.actions[c.action]
	if !ok {
		return Errorf(CodeInvalidAction, "The action %s is not valid for this web service.", c.action)
	}
	if err := c.f.unsupported(act.unsupported); err != nil {
		return err
	}
	if err := c.f.check(act.known); err != nil {
		return err
	}
	var err error
	if c.dryRun, err = c.f.boolean("DryRun"); err != nil {
		return err
	}
	if err := s.authorize(c); err != nil {
		return err
	}
	resp, err := act.fn(c)
	if err != nil {
		return err
	}
	return s.writeResponse(w, c, resp)
}

func (s *Service) writeResponse(w http.ResponseWriter, c *call, resp response) error {
	resp.setMeta(c.info.RequestID)
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).EncodeElement(resp, xml.StartElement{Name: xml.Name{Local: c.action + "Response"}}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = w.Write(buf.Bytes())
	return nil
}

// WriteError implements cloud.Service: EC2's <Response><Errors><Error>… document.
func (s *Service) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	info := cloud.InfoFrom(r.Context())
	e, named := toEC2Error(err)
	if !named {
		s.log.ErrorContext(r.Context(), "EC2 request failed", "action", r.Form.Get("Action"), "request_id", info.RequestID, "error", err)
	}
	var doc errorResponse
	doc.Errors.Error.Code, doc.Errors.Error.Message, doc.RequestID = e.Code, e.Message, info.RequestID
	body, _ := xml.Marshal(doc)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(e.status())
	_, _ = w.Write(append([]byte(xml.Header), body...))
}

// archOf is EC2's name of a Go architecture.
func archOf(goarch string) string {
	switch goarch {
	case "amd64", "":
		return "x86_64"
	case "arm64":
		return "arm64"
	case "386":
		return "i386"
	}
	return goarch
}

// zone is the service's one availability zone.
func (s *Service) zone() string { return s.region + "a" }
