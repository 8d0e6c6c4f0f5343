package ec2api

import (
	"encoding/xml"
	"time"
)

// The XML shapes of EC2's Query API (2016-11-15), as botocore's service model names them: a response is
// <ActionResponse xmlns="…"><requestId>…</requestId>…</ActionResponse>, lists are <fooSet><item>…</item></fooSet>.

const (
	apiVersion = "2016-11-15"
	xmlns      = "http://ec2.amazonaws.com/doc/2016-11-15/"
	timeFormat = "2006-01-02T15:04:05.000Z"
)

func wireTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

// items is an EC2 list: its element, then one <item> per entry. An empty list is still written (<keySet/>), as
// EC2 does, so clients see [] rather than nothing; fields that EC2 leaves out when empty say omitempty.
type items[T any] []T

func (l items[T]) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for _, it := range l {
		if err := e.EncodeElement(it, xml.StartElement{Name: xml.Name{Local: "item"}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// meta begins every response.
type meta struct {
	XMLNS     string `xml:"xmlns,attr"`
	RequestID string `xml:"requestId"`
}

func (m *meta) setMeta(requestID string) { m.XMLNS, m.RequestID = xmlns, requestID }

type response interface{ setMeta(requestID string) }

// returnResponse is the answer of actions that return only <return>true</return>.
type returnResponse struct {
	meta
	Return bool `xml:"return"`
}

type wireTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type wireState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

func stateOf(s State) wireState { return wireState{Code: s.Code(), Name: string(s)} }

type wireGroupID struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

type wirePlacement struct {
	AvailabilityZone string `xml:"availabilityZone"`
	GroupName        string `xml:"groupName"`
	Tenancy          string `xml:"tenancy"`
}

type wireStateReason struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type wireMonitoring struct {
	State string `xml:"state"`
}

type wireCPUOptions struct {
	CoreCount      int `xml:"coreCount"`
	ThreadsPerCore int `xml:"threadsPerCore"`
}

type wireEBSInstance struct {
	VolumeID            string `xml:"volumeId"`
	Status              string `xml:"status"`
	AttachTime          string `xml:"attachTime"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
}

type wireInstanceBDM struct {
	DeviceName string          `xml:"deviceName"`
	EBS        wireEBSInstance `xml:"ebs"`
}

type wireInstance struct {
	InstanceID            string                 `xml:"instanceId"`
	ImageID               string                 `xml:"imageId"`
	State                 wireState              `xml:"instanceState"`
	PrivateDNSName        string                 `xml:"privateDnsName"`
	DNSName               string                 `xml:"dnsName"`
	Reason                string                 `xml:"reason"`
	KeyName               string                 `xml:"keyName,omitempty"`
	AmiLaunchIndex        int                    `xml:"amiLaunchIndex"`
	ProductCodes          items[struct{}]        `xml:"productCodes"`
	InstanceType          string                 `xml:"instanceType"`
	LaunchTime            string                 `xml:"launchTime"`
	Placement             wirePlacement          `xml:"placement"`
	Monitoring            wireMonitoring         `xml:"monitoring"`
	PrivateIPAddress      string                 `xml:"privateIpAddress,omitempty"`
	IPAddress             string                 `xml:"ipAddress,omitempty"`
	GroupSet              items[wireGroupID]     `xml:"groupSet"`
	StateReason           *wireStateReason       `xml:"stateReason,omitempty"`
	Architecture          string                 `xml:"architecture"`
	RootDeviceType        string                 `xml:"rootDeviceType"`
	RootDeviceName        string                 `xml:"rootDeviceName"`
	BlockDeviceMapping    items[wireInstanceBDM] `xml:"blockDeviceMapping"`
	VirtualizationType    string                 `xml:"virtualizationType"`
	ClientToken           string                 `xml:"clientToken"`
	TagSet                items[wireTag]         `xml:"tagSet,omitempty"`
	Hypervisor            string                 `xml:"hypervisor,omitempty"`
	EbsOptimized          bool                   `xml:"ebsOptimized"`
	CPUOptions            wireCPUOptions         `xml:"cpuOptions"`
	PlatformDetails       string                 `xml:"platformDetails"`
	UsageOperation        string                 `xml:"usageOperation"`
	CurrentInstanceBootMd string                 `xml:"currentInstanceBootMode,omitempty"`
}

type wireReservation struct {
	ReservationID string              `xml:"reservationId"`
	OwnerID       string              `xml:"ownerId"`
	GroupSet      items[wireGroupID]  `xml:"groupSet"`
	InstancesSet  items[wireInstance] `xml:"instancesSet"`
}

type runInstancesResponse struct {
	meta
	wireReservation
}

type describeInstancesResponse struct {
	meta
	ReservationSet items[wireReservation] `xml:"reservationSet"`
	NextToken      string                 `xml:"nextToken,omitempty"`
}

type wireStateChange struct {
	InstanceID    string    `xml:"instanceId"`
	CurrentState  wireState `xml:"currentState"`
	PreviousState wireState `xml:"previousState"`
}

type stateChangeResponse struct {
	meta
	InstancesSet items[wireStateChange] `xml:"instancesSet"`
}

type wireStatusDetail struct {
	Name   string `xml:"name"`
	Status string `xml:"status"`
}

type wireStatusSummary struct {
	Status  string                  `xml:"status"`
	Details items[wireStatusDetail] `xml:"details"`
}

type wireInstanceStatus struct {
	InstanceID       string            `xml:"instanceId"`
	AvailabilityZone string            `xml:"availabilityZone"`
	EventsSet        items[struct{}]   `xml:"eventsSet"`
	InstanceState    wireState         `xml:"instanceState"`
	SystemStatus     wireStatusSummary `xml:"systemStatus"`
	InstanceStatus   wireStatusSummary `xml:"instanceStatus"`
}

type describeInstanceStatusResponse struct {
	meta
	InstanceStatusSet items[wireInstanceStatus] `xml:"instanceStatusSet"`
	NextToken         string                    `xml:"nextToken,omitempty"`
}

type consoleOutputResponse struct {
	meta
	InstanceID string `xml:"instanceId"`
	Timestamp  string `xml:"timestamp"`
	Output     string `xml:"output,omitempty"`
}

type wireKeyPair struct {
	KeyPairID      string         `xml:"keyPairId"`
	KeyFingerprint string         `xml:"keyFingerprint"`
	KeyName        string         `xml:"keyName"`
	KeyType        string         `xml:"keyType"`
	TagSet         items[wireTag] `xml:"tagSet"`
	PublicKey      string         `xml:"publicKey,omitempty"`
	CreateTime     string         `xml:"createTime"`
}

type createKeyPairResponse struct {
	meta
	KeyFingerprint string         `xml:"keyFingerprint"`
	KeyMaterial    string         `xml:"keyMaterial"`
	KeyName        string         `xml:"keyName"`
	KeyPairID      string         `xml:"keyPairId"`
	TagSet         items[wireTag] `xml:"tagSet"`
}

type importKeyPairResponse struct {
	meta
	KeyFingerprint string         `xml:"keyFingerprint"`
	KeyName        string         `xml:"keyName"`
	KeyPairID      string         `xml:"keyPairId"`
	TagSet         items[wireTag] `xml:"tagSet"`
}

type describeKeyPairsResponse struct {
	meta
	KeySet items[wireKeyPair] `xml:"keySet"`
}

type deleteKeyPairResponse struct {
	meta
	Return    bool   `xml:"return"`
	KeyPairID string `xml:"keyPairId,omitempty"`
}

type wireIPRange struct {
	CidrIP      string `xml:"cidrIp"`
	Description string `xml:"description,omitempty"`
}

type wireGroupPair struct {
	UserID      string `xml:"userId"`
	GroupID     string `xml:"groupId"`
	GroupName   string `xml:"groupName,omitempty"`
	Description string `xml:"description,omitempty"`
}

type wirePermission struct {
	IPProtocol    string               `xml:"ipProtocol"`
	FromPort      *int                 `xml:"fromPort,omitempty"`
	ToPort        *int                 `xml:"toPort,omitempty"`
	Groups        items[wireGroupPair] `xml:"groups"`
	IPRanges      items[wireIPRange]   `xml:"ipRanges"`
	IPv6Ranges    items[struct{}]      `xml:"ipv6Ranges"`
	PrefixListIDs items[struct{}]      `xml:"prefixListIds"`
}

type wireSecurityGroup struct {
	OwnerID             string                `xml:"ownerId"`
	GroupID             string                `xml:"groupId"`
	GroupName           string                `xml:"groupName"`
	GroupDescription    string                `xml:"groupDescription"`
	IPPermissions       items[wirePermission] `xml:"ipPermissions"`
	IPPermissionsEgress items[wirePermission] `xml:"ipPermissionsEgress"`
	TagSet              items[wireTag]        `xml:"tagSet,omitempty"`
	SecurityGroupArn    string                `xml:"securityGroupArn"`
}

type createSecurityGroupResponse struct {
	meta
	Return           bool           `xml:"return"`
	GroupID          string         `xml:"groupId"`
	TagSet           items[wireTag] `xml:"tagSet,omitempty"`
	SecurityGroupArn string         `xml:"securityGroupArn"`
}

type describeSecurityGroupsResponse struct {
	meta
	SecurityGroupInfo items[wireSecurityGroup] `xml:"securityGroupInfo"`
	NextToken         string                   `xml:"nextToken,omitempty"`
}

type deleteSecurityGroupResponse struct {
	meta
	Return  bool   `xml:"return"`
	GroupID string `xml:"groupId"`
}

type wireReferencedGroup struct {
	GroupID string `xml:"groupId"`
	UserID  string `xml:"userId"`
}

type wireGroupRule struct {
	SecurityGroupRuleID  string               `xml:"securityGroupRuleId"`
	GroupID              string               `xml:"groupId"`
	GroupOwnerID         string               `xml:"groupOwnerId"`
	IsEgress             bool                 `xml:"isEgress"`
	IPProtocol           string               `xml:"ipProtocol"`
	FromPort             int                  `xml:"fromPort"`
	ToPort               int                  `xml:"toPort"`
	CidrIPv4             string               `xml:"cidrIpv4,omitempty"`
	ReferencedGroupInfo  *wireReferencedGroup `xml:"referencedGroupInfo,omitempty"`
	Description          string               `xml:"description,omitempty"`
	SecurityGroupRuleArn string               `xml:"securityGroupRuleArn"`
}

type authorizeIngressResponse struct {
	meta
	Return               bool                 `xml:"return"`
	SecurityGroupRuleSet items[wireGroupRule] `xml:"securityGroupRuleSet"`
}

type wireRevokedRule struct {
	SecurityGroupRuleID string `xml:"securityGroupRuleId"`
	GroupID             string `xml:"groupId"`
	IsEgress            bool   `xml:"isEgress"`
	IPProtocol          string `xml:"ipProtocol"`
	FromPort            int    `xml:"fromPort"`
	ToPort              int    `xml:"toPort"`
	CidrIPv4            string `xml:"cidrIpv4,omitempty"`
	ReferencedGroupID   string `xml:"referencedGroupId,omitempty"`
	Description         string `xml:"description,omitempty"`
}

type revokeIngressResponse struct {
	meta
	Return                      bool                   `xml:"return"`
	RevokedSecurityGroupRuleSet items[wireRevokedRule] `xml:"revokedSecurityGroupRuleSet"`
}

type wireEBSImage struct {
	VolumeSize          int    `xml:"volumeSize"`
	VolumeType          string `xml:"volumeType"`
	DeleteOnTermination bool   `xml:"deleteOnTermination"`
	Encrypted           bool   `xml:"encrypted"`
}

type wireImageBDM struct {
	DeviceName string       `xml:"deviceName"`
	EBS        wireEBSImage `xml:"ebs"`
}

type wireImage struct {
	ImageID            string              `xml:"imageId"`
	ImageLocation      string              `xml:"imageLocation"`
	ImageState         string              `xml:"imageState"`
	ImageOwnerID       string              `xml:"imageOwnerId"`
	CreationDate       string              `xml:"creationDate"`
	IsPublic           bool                `xml:"isPublic"`
	Architecture       string              `xml:"architecture"`
	ImageType          string              `xml:"imageType"`
	Name               string              `xml:"name"`
	Description        string              `xml:"description,omitempty"`
	RootDeviceType     string              `xml:"rootDeviceType"`
	RootDeviceName     string              `xml:"rootDeviceName"`
	BlockDeviceMapping items[wireImageBDM] `xml:"blockDeviceMapping"`
	VirtualizationType string              `xml:"virtualizationType"`
	TagSet             items[wireTag]      `xml:"tagSet,omitempty"`
	Hypervisor         string              `xml:"hypervisor,omitempty"`
	PlatformDetails    string              `xml:"platformDetails"`
	UsageOperation     string              `xml:"usageOperation"`
	EnaSupport         bool                `xml:"enaSupport"`
	BootMode           string              `xml:"bootMode,omitempty"`
}

type describeImagesResponse struct {
	meta
	ImagesSet items[wireImage] `xml:"imagesSet"`
	NextToken string           `xml:"nextToken,omitempty"`
}

type wireTagDescription struct {
	ResourceID   string `xml:"resourceId"`
	ResourceType string `xml:"resourceType"`
	Key          string `xml:"key"`
	Value        string `xml:"value"`
}

type describeTagsResponse struct {
	meta
	TagSet    items[wireTagDescription] `xml:"tagSet"`
	NextToken string                    `xml:"nextToken,omitempty"`
}

type wireProcessorInfo struct {
	SupportedArchitectures items[string] `xml:"supportedArchitectures"`
}

type wireVCPUInfo struct {
	DefaultVCPUs          int `xml:"defaultVCpus"`
	DefaultCores          int `xml:"defaultCores"`
	DefaultThreadsPerCore int `xml:"defaultThreadsPerCore"`
}

type wireMemoryInfo struct {
	SizeInMiB int `xml:"sizeInMiB"`
}

type wireInstanceType struct {
	InstanceType                  string            `xml:"instanceType"`
	CurrentGeneration             bool              `xml:"currentGeneration"`
	FreeTierEligible              bool              `xml:"freeTierEligible"`
	SupportedUsageClasses         items[string]     `xml:"supportedUsageClasses"`
	SupportedRootDeviceTypes      items[string]     `xml:"supportedRootDeviceTypes"`
	SupportedVirtualizationTypes  items[string]     `xml:"supportedVirtualizationTypes"`
	BareMetal                     bool              `xml:"bareMetal"`
	ProcessorInfo                 wireProcessorInfo `xml:"processorInfo"`
	VCPUInfo                      wireVCPUInfo      `xml:"vCpuInfo"`
	MemoryInfo                    wireMemoryInfo    `xml:"memoryInfo"`
	InstanceStorageSupported      bool              `xml:"instanceStorageSupported"`
	HibernationSupported          bool              `xml:"hibernationSupported"`
	BurstablePerformanceSupported bool              `xml:"burstablePerformanceSupported"`
	DedicatedHostsSupported       bool              `xml:"dedicatedHostsSupported"`
	AutoRecoverySupported         bool              `xml:"autoRecoverySupported"`
	SupportedBootModes            items[string]     `xml:"supportedBootModes"`
}

type describeInstanceTypesResponse struct {
	meta
	InstanceTypeSet items[wireInstanceType] `xml:"instanceTypeSet"`
	NextToken       string                  `xml:"nextToken,omitempty"`
}

type wireRegion struct {
	RegionName     string `xml:"regionName"`
	RegionEndpoint string `xml:"regionEndpoint"`
	OptInStatus    string `xml:"optInStatus"`
}

type describeRegionsResponse struct {
	meta
	RegionInfo items[wireRegion] `xml:"regionInfo"`
}

type wireZone struct {
	ZoneName           string          `xml:"zoneName"`
	ZoneState          string          `xml:"zoneState"`
	RegionName         string          `xml:"regionName"`
	ZoneID             string          `xml:"zoneId"`
	GroupName          string          `xml:"groupName"`
	NetworkBorderGroup string          `xml:"networkBorderGroup"`
	ZoneType           string          `xml:"zoneType"`
	OptInStatus        string          `xml:"optInStatus"`
	MessageSet         items[struct{}] `xml:"messageSet"`
}

type describeZonesResponse struct {
	meta
	AvailabilityZoneInfo items[wireZone] `xml:"availabilityZoneInfo"`
}

// errorResponse is EC2's error document: <Response><Errors><Error>… and <RequestID> (capitalised so, unlike the
// success responses' requestId).
type errorResponse struct {
	XMLName xml.Name `xml:"Response"`
	Errors  struct {
		Error struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Error"`
	} `xml:"Errors"`
	RequestID string `xml:"RequestID"`
}
