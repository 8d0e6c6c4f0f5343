package policy

import "strings"

// s3Scope is what kind of resource an S3 action acts on.
type s3Scope uint8

const (
	scopeOther  s3Scope = iota // the account, access points, jobs, Storage Lens …: never a bucket policy's resource
	scopeBucket                // arn:aws:s3:::BUCKET
	scopeObject                // arn:aws:s3:::BUCKET/KEY
)

// s3Actions are the actions of the service authorization reference for Amazon S3 (prefix s3), with the resource
// type each one acts on. Names are lower-cased: actions match case-insensitively.
var s3Actions = func() map[string]s3Scope {
	m := map[string]s3Scope{}
	add := func(scope s3Scope, names string) {
		for _, n := range strings.Fields(names) {
			m["s3:"+strings.ToLower(n)] = scope
		}
	}
	add(scopeObject, `
		AbortMultipartUpload BypassGovernanceRetention DeleteObject DeleteObjectTagging DeleteObjectVersion
		DeleteObjectVersionTagging GetObject GetObjectAcl GetObjectAttributes GetObjectLegalHold GetObjectRetention
		GetObjectTagging GetObjectTorrent GetObjectVersion GetObjectVersionAcl GetObjectVersionAttributes
		GetObjectVersionForReplication GetObjectVersionTagging GetObjectVersionTorrent InitiateReplication
		ListMultipartUploadParts ObjectOwnerOverrideToBucketOwner PutObject PutObjectAcl PutObjectLegalHold
		PutObjectRetention PutObjectTagging PutObjectVersionAcl PutObjectVersionTagging ReplicateDelete
		ReplicateObject ReplicateTags RestoreObject`)
	add(scopeBucket, `
		CreateBucket DeleteBucket DeleteBucketOwnershipControls DeleteBucketPolicy DeleteBucketWebsite
		GetAccelerateConfiguration GetAnalyticsConfiguration GetBucketAcl GetBucketCORS GetBucketLocation
		GetBucketLogging GetBucketNotification GetBucketObjectLockConfiguration GetBucketOwnershipControls
		GetBucketPolicy GetBucketPolicyStatus GetBucketPublicAccessBlock GetBucketRequestPayment GetBucketTagging
		GetBucketVersioning GetBucketWebsite GetEncryptionConfiguration GetIntelligentTieringConfiguration
		GetInventoryConfiguration GetLifecycleConfiguration GetMetricsConfiguration GetReplicationConfiguration
		ListBucket ListBucketMultipartUploads ListBucketVersions PutAccelerateConfiguration
		PutAnalyticsConfiguration PutBucketAcl PutBucketCORS PutBucketLogging PutBucketNotification
		PutBucketObjectLockConfiguration PutBucketOwnershipControls PutBucketPolicy PutBucketPublicAccessBlock
		PutBucketRequestPayment PutBucketTagging PutBucketVersioning PutBucketWebsite PutEncryptionConfiguration
		PutIntelligentTieringConfiguration PutInventoryConfiguration PutLifecycleConfiguration
		PutMetricsConfiguration PutReplicationConfiguration PauseReplication
		CreateBucketMetadataTableConfiguration GetBucketMetadataTableConfiguration
		DeleteBucketMetadataTableConfiguration CreateBucketMetadataConfiguration GetBucketMetadataConfiguration
		DeleteBucketMetadataConfiguration UpdateBucketMetadataInventoryTableConfiguration
		UpdateBucketMetadataJournalTableConfiguration GetBucketAbac PutBucketAbac
		ListTagsForResource TagResource UntagResource`)
	add(scopeOther, `
		ListAllMyBuckets ListAccessPoints ListAccessPointsForObjectLambda ListAccessPointsForDirectoryBuckets
		ListJobs ListMultiRegionAccessPoints ListStorageLensConfigurations ListStorageLensGroups ListAccessGrants
		ListAccessGrantsInstances ListAccessGrantsLocations ListCallerAccessGrants
		CreateAccessPoint CreateAccessPointForObjectLambda CreateJob CreateMultiRegionAccessPoint
		CreateStorageLensGroup CreateAccessGrant CreateAccessGrantsInstance CreateAccessGrantsLocation
		DeleteAccessPoint DeleteAccessPointForObjectLambda DeleteAccessPointPolicy
		DeleteAccessPointPolicyForObjectLambda DeleteJobTagging DeleteMultiRegionAccessPoint
		DeleteStorageLensConfiguration DeleteStorageLensConfigurationTagging DeleteStorageLensGroup
		DeleteAccessGrant DeleteAccessGrantsInstance DeleteAccessGrantsInstanceResourcePolicy
		DeleteAccessGrantsLocation DeleteAccessPointScope DescribeJob DescribeMultiRegionAccessPointOperation
		GetAccessPoint GetAccessPointConfigurationForObjectLambda GetAccessPointForObjectLambda
		GetAccessPointPolicy GetAccessPointPolicyForObjectLambda GetAccessPointPolicyStatus
		GetAccessPointPolicyStatusForObjectLambda GetAccessPointScope GetAccountPublicAccessBlock GetJobTagging
		GetMultiRegionAccessPoint GetMultiRegionAccessPointPolicy GetMultiRegionAccessPointPolicyStatus
		GetMultiRegionAccessPointRoutes GetStorageLensConfiguration GetStorageLensConfigurationTagging
		GetStorageLensDashboard GetStorageLensGroup GetAccessGrant GetAccessGrantsInstance
		GetAccessGrantsInstanceForPrefix GetAccessGrantsInstanceResourcePolicy GetAccessGrantsLocation
		GetDataAccess PutAccessPointConfigurationForObjectLambda PutAccessPointPolicy
		PutAccessPointPolicyForObjectLambda PutAccessPointPublicAccessBlock PutAccessPointScope
		PutAccountPublicAccessBlock PutJobTagging PutMultiRegionAccessPointPolicy PutStorageLensConfiguration
		PutStorageLensConfigurationTagging PutAccessGrantsInstanceResourcePolicy
		SubmitMultiRegionAccessPointRoutes UpdateJobPriority UpdateJobStatus UpdateStorageLensGroup
		UpdateAccessGrantsLocation AssociateAccessGrantsIdentityCenter DissociateAccessGrantsIdentityCenter`)
	return m
}()

// s3ActionScopes returns the scopes of the S3 actions a (lower-cased) action pattern matches, and whether it
// matches any.
func s3ActionScopes(p pattern) (bucket, object, any bool) {
	for name, scope := range s3Actions {
		if !globMatch(p.toks, name) {
			continue
		}
		any = true
		switch scope {
		case scopeBucket:
			bucket = true
		case scopeObject:
			object = true
		}
	}
	return bucket, object, any
}

// ValidateBucketPolicy makes the checks S3's PutBucketPolicy adds for the bucket the policy is put on, returning a
// *MalformedError in S3's words:
//
//   - every Resource and NotResource is "*", arn:aws:s3:::BUCKET or arn:aws:s3:::BUCKET/… ("Policy has invalid
//     resource");
//   - every Action and NotAction is "*" or matches an S3 action ("Policy has invalid action");
//   - every Action applies to a resource of the statement: an object action (s3:GetObject) to
//     arn:aws:s3:::BUCKET/…, a bucket action (s3:ListBucket) to arn:aws:s3:::BUCKET; a wildcard action needs one
//     of the actions it matches to apply ("Action does not apply to any resource(s) in statement").
//
// Call it on a policy parsed as Resource, after Parse.
func (p *Policy) ValidateBucketPolicy(bucket string) error {
	bucketARN := "arn:aws:s3:::" + bucket
	for i := range p.statements {
		st := &p.statements[i]
		hasBucket, hasObject := false, false
		for _, r := range st.resources {
			switch {
			case r.raw == "*":
				hasBucket, hasObject = true, true
			case r.raw == bucketARN:
				hasBucket = true
			case strings.HasPrefix(r.raw, bucketARN+"/"):
				hasObject = true
			default:
				return Malformed(Resource, MsgInvalidResource)
			}
		}
		for _, a := range st.actions {
			if a.raw == "*" || a.raw == "s3:*" {
				continue
			}
			vendor, _, _ := strings.Cut(a.raw, ":")
			if vendor != "s3" {
				return Malformed(Resource, MsgInvalidAction)
			}
			b, o, any := s3ActionScopes(a)
			if !any {
				return Malformed(Resource, MsgInvalidAction)
			}
			if st.notAction || st.notResource {
				continue // what a NotAction or NotResource statement covers is everything else
			}
			if !(b && hasBucket || o && hasObject) {
				return Malformed(Resource, MsgActionMismatch)
			}
		}
	}
	return nil
}
